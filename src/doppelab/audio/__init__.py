"""Audio stage: decode any audio track to 16 kHz mono, loudness-normalise, find speech."""
