"""Payload coding for the watermark: 32-bit ID + CRC-16, a tail-biting convolutional code.

The 32-bit payload ID gets a CRC-16/CCITT (error detection: a random word passes with
probability 2^-16), is XOR-scrambled with key bits, and is encoded with the standard rate-1/2,
constraint-length-7 convolutional code (generators 171/133 octal) in tail-biting form, so 48
information bits become exactly 96 coded bits with no tail. Decoding is soft-decision Viterbi
over the wrapped sequence (three laps, the middle one kept), which gives about 5 dB of coding gain
over hard decisions at the error rates the watermark sees after JPEG/H.264.

Convention: bit arrays are ``int8`` 0/1; soft values are float with ``> 0`` meaning bit 1.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

PAYLOAD_BITS = 32
CRC_BITS = 16
INFO_BITS = PAYLOAD_BITS + CRC_BITS
CODED_BITS = 2 * INFO_BITS
_GENERATORS = (0o171, 0o133)
_K = 7
_STATES = 1 << (_K - 1)

Bits = npt.NDArray[np.int8]


def _parity(x: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    p = np.zeros_like(x)
    for i in range(_K):
        p ^= (x >> i) & 1
    return p


def _trellis() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """For each next state: its two predecessor states, their input bit and output signs (+-1)."""
    states = np.arange(_STATES, dtype=np.int64)
    pred = np.zeros((_STATES, 2), np.int64)
    inp = np.zeros((_STATES, 2), np.int64)
    sgn = np.zeros((_STATES, 2, 2), np.float64)
    count = np.zeros(_STATES, np.int64)
    for bit in (0, 1):
        reg = (bit << (_K - 1)) | states
        outs = np.stack([_parity(reg & g) for g in _GENERATORS], axis=1)
        for s, nxt in enumerate(reg >> 1):
            k = count[nxt]
            pred[nxt, k], inp[nxt, k], sgn[nxt, k] = s, bit, 2.0 * outs[s] - 1.0
            count[nxt] += 1
    return pred, inp, sgn


_PRED, _INPUT, _SIGN = _trellis()


def conv_encode(bits: npt.ArrayLike) -> Bits:
    """Tail-biting rate-1/2 encoding. Shape: ``(n,)`` -> ``(2n,)``."""
    b = np.asarray(bits, np.int64).ravel()
    if b.size < _K - 1:
        raise ValueError(f"need at least {_K - 1} bits, got {b.size}")
    state = 0
    for v in b[-(_K - 1):]:  # start in the state the last bits leave behind
        state = (state >> 1) | (int(v) << (_K - 2))
    out = np.zeros(2 * b.size, np.int8)
    for i, v in enumerate(b):
        reg = (int(v) << (_K - 1)) | state
        for j, g in enumerate(_GENERATORS):
            out[2 * i + j] = bin(reg & g).count("1") & 1
        state = reg >> 1
    return out


def viterbi_decode(soft: npt.ArrayLike, laps: int = 3) -> Bits:
    """Soft-decision tail-biting Viterbi. Shape: ``(2n,)`` soft values -> ``(n,)`` bits."""
    pairs = np.asarray(soft, np.float64).reshape(-1, 2)
    n = pairs.shape[0]
    seq = np.concatenate([pairs] * laps)
    metric = np.zeros(_STATES)
    choice = np.zeros((seq.shape[0], _STATES), np.int8)
    rows = np.arange(_STATES)
    for t, (a, b) in enumerate(seq):
        cand = metric[_PRED] + _SIGN[..., 0] * a + _SIGN[..., 1] * b
        k = np.argmax(cand, axis=1)
        choice[t] = k
        metric = cand[rows, k]
        metric -= metric.max()
    state = int(np.argmax(metric))
    decided = np.zeros(seq.shape[0], np.int8)
    for t in range(seq.shape[0] - 1, -1, -1):
        k = choice[t, state]
        decided[t] = _INPUT[state, k]
        state = int(_PRED[state, k])
    return decided[n:2 * n]


def crc16(bits: npt.ArrayLike) -> Bits:
    """CRC-16/CCITT-FALSE of a bit string (MSB first, padded to whole bytes). Shape: (16,)."""
    data = np.packbits(np.asarray(bits, np.uint8)).tobytes()
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return np.unpackbits(np.array([crc >> 8, crc & 0xFF], np.uint8)).astype(np.int8)


def id_to_bits(payload_id: int) -> Bits:
    """32-bit unsigned ID -> 32 bits, MSB first."""
    if not 0 <= payload_id < 1 << PAYLOAD_BITS:
        raise ValueError(f"payload id must fit in {PAYLOAD_BITS} bits, got {payload_id}")
    return np.unpackbits(np.array([payload_id], ">u4").view(np.uint8)).astype(np.int8)


def bits_to_id(bits: npt.ArrayLike) -> int:
    """32 bits, MSB first -> unsigned ID."""
    packed = np.packbits(np.asarray(bits, np.uint8)[:PAYLOAD_BITS])
    return int(packed.view(">u4")[0])


def encode_payload(payload_id: int, scramble: Bits) -> Bits:
    """ID -> 96 coded bits (ID, CRC-16, XOR ``scramble`` (48 key bits), convolutional code)."""
    b = id_to_bits(payload_id)
    info = np.concatenate([b, crc16(b)]) ^ scramble
    return conv_encode(info)


def decode_payload(soft: npt.ArrayLike, scramble: Bits) -> tuple[int, bool, Bits]:
    """96 soft values -> (ID, CRC ok, the re-encoded codeword for measuring bit agreement)."""
    info = viterbi_decode(soft)
    codeword = conv_encode(info)
    plain = info ^ scramble
    ok = bool(np.array_equal(crc16(plain[:PAYLOAD_BITS]), plain[PAYLOAD_BITS:]))
    return bits_to_id(plain[:PAYLOAD_BITS]), ok, codeword
