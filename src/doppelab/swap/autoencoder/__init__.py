"""The classic face-swap autoencoder: model, data, losses, training and the swap method."""

from doppelab.swap.autoencoder import method as method  # registers "autoencoder"
