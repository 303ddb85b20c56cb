"""Audio-visual sync: does the main face's mouth move with the speech in the audio track?

Public API::

    from doppelab.detect.avsync import analyse_av_sync
    result = analyse_av_sync(Path("clip.mp4"), max_seconds=60)
    result.status           # "ok" | "no_face" | "no_speech" | "no_audio"
    result.offset_frames    # > 0: audio late by that many video frames
    result.probability_fake # mouth and speech do not belong together (shifted, dubbed, lip-synced)

See :mod:`doppelab.detect.avsync.analyse` for the method and ``weights/MODEL_CARD.md`` for the
shipped network.
"""

from doppelab.detect.avsync.analyse import analyse_av_sync, analyse_streams
from doppelab.detect.avsync.types import AVSyncResult, SyncWindow

__all__ = ["AVSyncResult", "SyncWindow", "analyse_av_sync", "analyse_streams"]
