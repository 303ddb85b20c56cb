"""``doppelab detect FILE...``: a calibrated, explained real/fake verdict per image or video."""

from __future__ import annotations

import argparse
from typing import Any

from doppelab.cli.common import add_command, add_json, path_arg, report_error
from doppelab.core.errors import DoppelabError, OutputError, UsageError

EPILOG = """\
examples:
  doppelab detect clip.mp4
  doppelab detect photo.jpg clip.mp4 --json > verdicts.json
  doppelab detect clip.mp4 --frames 64 --report clip.html
  doppelab detect call.mp3 voice.wav --json
  doppelab detect call.mp3 --reference known_real_voice.wav

Verdicts: "likely fake", "likely real", or "inconclusive" with a reason (no face, face too small,
too dark, too blurry, no speech, no audio, score near the threshold); an image without a face is
never "real". Audio files (WAV, FLAC, MP3, M4A, OGG/Opus, WebM) get the speech detector's verdict;
a video's audio track adds speech evidence and audio-visual sync evidence (mouth against speech),
fused with the face verdict (largest probability of the conclusive channels). A "likely fake"
names what it rests on, e.g. "fake evidence from face (blend, frequency), av_sync".
Exit code 0 whenever every file was read (whatever the verdict), 3 when a file is not usable
media (the others are still reported)."""

DETECTORS = ("blend", "frequency", "temporal", "speech", "avsync")
ALIASES = {"av_sync": "avsync"}


def register(sub: Any) -> None:
    p = add_command(
        sub,
        "detect",
        help="score images, videos and audio for deepfakes (calibrated, explained)",
        description="Sample frames evenly, score every face with the learned blend-seam CNN, "
        "the frequency statistics and (videos) the temporal detector; score speech with the "
        "synthetic-speech detector and, in videos, the mouth against the speech; fuse them "
        "into a calibrated probability and give a verdict with per-detector scores, a "
        "timeline and the most suspicious faces with heatmaps.",
        epilog=EPILOG,
        run=run,
    )
    p.add_argument("files", nargs="+", metavar="FILE", type=path_arg,
                   help="image, video or audio file (a folder of images is scored as one "
                   "frame sequence; `doppelab batch` checks every file of a folder)")
    p.add_argument("--frames", type=int, default=32,
                   help="frames sampled evenly per video (default 32; a number above the "
                   "video's frame count scores every frame)")
    add_json(p, "print the results as JSON")
    p.add_argument("--report", type=path_arg, metavar="OUT.html", help="write an HTML report")
    p.add_argument("--json-out", type=path_arg, metavar="OUT.json", help="write the JSON report")
    p.add_argument(
        "--detectors",
        default=",".join(DETECTORS),
        help=f"comma-separated subset of {','.join(DETECTORS)} (default: all)",
    )
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the CNN (default 1)")
    p.add_argument("--reference", type=path_arg, metavar="REAL.wav",
                   help="a real recording of the claimed speaker: adds a speaker check "
                   "(match / no match with a distance; evidence, not proof)")
    p.add_argument("--max-audio-seconds", type=float, default=None, metavar="S",
                   help="analyse at most S seconds of audio (default: all of it for the speech "
                   "detector, streamed, or its first S seconds; audio-visual sync checks a video "
                   "of up to S seconds, default 120, whole, and a longer one in 4 excerpts of "
                   "S/4 seconds spread from its start to its end)")


def _config(args: argparse.Namespace) -> Any:
    from doppelab.detect.predict import DetectConfig

    # results and reports name the sync channel "av_sync": accept that spelling too
    names = tuple(dict.fromkeys(
        ALIASES.get(n.strip(), n.strip()) for n in args.detectors.split(",") if n.strip()))
    unknown = [n for n in names if n not in DETECTORS]
    if unknown or not names:
        raise UsageError(f"--detectors: unknown {unknown}; choose from {', '.join(DETECTORS)}")
    if args.frames < 1 or args.threads < 1:
        raise UsageError("--frames and --threads must be >= 1")
    if args.max_audio_seconds is not None and args.max_audio_seconds <= 0:
        raise UsageError("--max-audio-seconds must be > 0")
    _check_outputs(args)
    reference = None
    if args.reference is not None:
        from doppelab.core.media import check_readable
        from doppelab.detect.speaker import speaker_available

        check_readable(args.reference)
        if not speaker_available():
            raise UsageError("--reference needs the resemblyzer wheel (scripts/install.sh)")
        reference = str(args.reference)
    return DetectConfig(frames=args.frames, detectors=names, threads=args.threads,
                        max_audio_seconds=args.max_audio_seconds, speaker_reference=reference)


def _check_outputs(args: argparse.Namespace) -> None:
    """Report paths that cannot work are refused before any detection runs: a name the OS
    cannot hold, a folder, the same file twice, or one of the inputs (it would be replaced)."""
    from doppelab.core.storage import check_not_special, check_output_name, same_file

    outs = [(flag, p) for flag, p in (("--report", args.report), ("--json-out", args.json_out))
            if p is not None]
    for flag, p in outs:
        check_output_name(p)
        if p.is_dir():
            raise OutputError(f"{flag} is a directory: {p}")
        check_not_special(p)
        for other in [*args.files, *([args.reference] if args.reference else [])]:
            if same_file(p, other):
                raise UsageError(f"{flag} would overwrite the input {other}")
    if len(outs) == 2 and same_file(outs[0][1], outs[1][1]):
        raise UsageError(f"--report and --json-out name the same file: {args.report}")


def _speaker_line(res: Any, reference: Any) -> str:
    """The ``--reference`` speaker check of ``res`` as an indented line ("" without a
    reference)."""
    speaker = (res.speech or {}).get("speaker")
    if reference is None:
        return ""
    if not speaker:
        return f"\n  speaker check against {reference}: not possible (no speech in this file)"
    ref = speaker.get("reference")
    if speaker.get("match") is None:
        return f"\n  speaker check against {ref}: not possible ({speaker.get('reason')})"
    said = "match" if speaker["match"] else "no match"
    return (f"\n  speaker check against {ref}: {said} (cosine distance "
            f"{speaker['distance']:.3f}, threshold {speaker['threshold']:.2f}; evidence, "
            "not proof)")


def _line(res: Any, reference: Any = None) -> str:
    p = "" if res.probability is None else f" P(fake)={res.probability:.3f}"
    why = f" ({res.reason})" if res.reason else ""
    dets = ", ".join(f"{k} {v:.2f}" for k, v in res.detectors.items() if v is not None)
    return (
        f"{res.path}: {res.verdict}{why}{p}"
        + (f" [{dets}]" if dets else "")
        + f" {res.seconds:.1f} s"
        + "".join(f"\n  caveat: {c}" for c in res.caveats)
        + _speaker_line(res, reference)
    )


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from doppelab.detect.predict import Detect
    from doppelab.detect.report import to_json, write_reports

    cfg = _config(args)
    det = Detect(cfg)
    results, code = [], 0
    for path in args.files:
        try:
            res = det.run(path)
        except DoppelabError as exc:
            if len(args.files) == 1:
                raise
            code = max(code, report_error("detect", exc))
            continue
        results.append(res)
        if not args.json:
            print(_line(res, args.reference), flush=True)
    config = asdict(cfg)
    if args.json:
        print(to_json(results, config))
    write_reports(results, config, args.report, args.json_out)
    return code
