"""IMSE's two blocks, MALA and IDConv, written out from their definitions for float64 checks.

Written from ../shared/notes/upstream.md ("What differs") and upstream's RoPE (RMT's 2-D
rotary embedding), not from imse/: no code is shared with imse.mala or imse.idconv.

- Convolutions are explicit sums over kernel taps on a zero-padded map, with the tap's axis
  stated (time is axis 2, frequency axis 3), so a kernel applied along the wrong axis shows.
- MALA's attention is taken in its quadratic form, sum_m (q_n . k_m) v_m over all N tokens,
  head by head; the module computes the linear form q (k^T v).
- The rotary embedding rotates each (even, odd) channel pair of a head by an angle
  theta = position * omega: pairs in the first half of the head turn with the time index,
  pairs in the second half with the frequency index; omega_k = 10000^(-k / (P - 1)) for the
  P = head_dim / 4 pairs of each half (omega = 1 when P = 1).
"""

from __future__ import annotations

import torch
from torch import Tensor


def pointwise(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """A 1x1 convolution: out[o] = sum_c weight[o, c] x[c] (+ bias[o])."""
    out = torch.einsum("oc,bctf->botf", weight.reshape(weight.shape[0], -1), x)
    return out if bias is None else out + bias[None, :, None, None]


def depthwise(x: Tensor, taps: Tensor, bias: Tensor | None) -> Tensor:
    """Channel c correlated with its own kernel taps[c] of [time taps, frequency taps], centred, zeros outside.

    out[c, t, f] = sum_{i, j} taps[c, i, j] x[c, t + i - I // 2, f + j - J // 2] (+ bias[c]).
    """
    _, _, time, frequency = x.shape
    time_taps, frequency_taps = taps.shape[1:]
    padded = torch.zeros(x.shape[0], x.shape[1], time + time_taps - 1, frequency + frequency_taps - 1, dtype=x.dtype)
    padded[:, :, time_taps // 2 : time_taps // 2 + time, frequency_taps // 2 : frequency_taps // 2 + frequency] = x
    out = torch.zeros_like(x)
    for i in range(time_taps):
        for j in range(frequency_taps):
            out = out + taps[None, :, i, j, None, None] * padded[:, :, i : i + time, j : j + frequency]
    return out if bias is None else out + bias[None, :, None, None]


def idconv(x: Tensor, tensors: dict[str, Tensor], branch_ratio: float = 0.125, band: int = 11) -> Tensor:
    """1x1 projection (no bias), then InceptionNeXt's split: identity | 3x3 | 1 x `band` along F | `band` x 1 along T.

    `tensors` holds the module's parameters by its own names; each band's taps are read as a
    flat vector and laid along the axis the definition names.
    """
    projected = pointwise(x, tensors["pointwise.weight"])
    channels = projected.shape[1]
    branch = int(channels * branch_ratio)
    first = channels - 3 * branch
    identity = projected[:, :first]
    square = projected[:, first : first + branch]
    along_frequency = projected[:, first + branch : first + 2 * branch]
    along_time = projected[:, first + 2 * branch :]
    square_taps = tensors["square.weight"].reshape(branch, 3, 3)
    frequency_taps = tensors["frequency_band.weight"].reshape(branch, band)[:, None, :]  # [branch, 1 time, band]
    time_taps = tensors["time_band.weight"].reshape(branch, band)[:, :, None]  # [branch, band, 1 frequency]
    return torch.cat(
        (
            identity,
            depthwise(square, square_taps, tensors["square.bias"]),
            depthwise(along_frequency, frequency_taps, tensors["frequency_band.bias"]),
            depthwise(along_time, time_taps, tensors["time_band.bias"]),
        ),
        dim=1,
    )


def rotary_angles(head_dim: int, time: int, frequency: int) -> Tensor:
    """theta[n, p] for token n = t * frequency + f and channel pair p of a head, in float64."""
    pairs_per_axis = head_dim // 4
    t = torch.arange(time, dtype=torch.float64).repeat_interleave(frequency)  # token n -> its time index
    f = torch.arange(frequency, dtype=torch.float64).repeat(time)  # token n -> its frequency index
    angles = torch.empty(time * frequency, head_dim // 2, dtype=torch.float64)
    for pair in range(head_dim // 2):
        k = pair % pairs_per_axis
        omega = 1.0 if pairs_per_axis == 1 else 10000.0 ** (-k / (pairs_per_axis - 1))
        position = t if pair < pairs_per_axis else f
        angles[:, pair] = position * omega
    return angles


def rotate(tokens: Tensor, angles: Tensor) -> Tensor:
    """Each pair (x_2p, x_2p+1) of tokens [batch, N, head_dim] turned by angles[n, p] (counter-clockwise)."""
    out = torch.empty_like(tokens)
    for pair in range(tokens.shape[-1] // 2):
        x, y = tokens[..., 2 * pair], tokens[..., 2 * pair + 1]
        cos, sin = torch.cos(angles[:, pair]), torch.sin(angles[:, pair])
        out[..., 2 * pair] = x * cos - y * sin
        out[..., 2 * pair + 1] = x * sin + y * cos
    return out


def elu_plus_one(x: Tensor) -> Tensor:
    return torch.where(x > 0, x, torch.expm1(x)) + 1


def mala(x: Tensor, tensors: dict[str, Tensor], heads: int, rotary: bool = True) -> Tensor:
    """Magnitude-aware linear attention, quadratic form, one head at a time.

    `rotary=False` leaves the rotary embedding out; the tests use it to show that the shapes
    they pick make the embedding matter.
    """
    batch, channels, time, frequency = x.shape
    tokens = time * frequency
    head_dim = channels // heads
    scale = head_dim**-0.5
    qkvo = pointwise(x, tensors["qkvo.weight"], tensors["qkvo.bias"])
    query, key, value, gate = (qkvo[:, part * channels : (part + 1) * channels] for part in range(4))
    lepe = depthwise(value, tensors["lepe.weight"].reshape(channels, 5, 5), tensors["lepe.bias"])
    angles = rotary_angles(head_dim, time, frequency)

    def head_tokens(map_: Tensor, head: int) -> Tensor:  # [batch, N, head_dim], token n = t * F + f
        return map_[:, head * head_dim : (head + 1) * head_dim].reshape(batch, head_dim, tokens).transpose(1, 2)

    outputs = []
    for head in range(heads):
        q = elu_plus_one(head_tokens(query, head))
        k = elu_plus_one(head_tokens(key, head))
        v = head_tokens(value, head)
        z = torch.einsum("bnd,bd->bn", q, k.mean(dim=1)) * scale  # before the rotation
        if rotary:
            q, k = rotate(q, angles), rotate(k, angles)
        # (k^T sqrt(s/N)) (v sqrt(s/N)) applied to q_n is sum_m (q_n . k_m) v_m * s / N
        scores = torch.einsum("bnd,bmd->bnm", q, k) * (scale / tokens)
        attended = torch.einsum("bnm,bme->bne", scores, v)
        out = attended * (1 + 1 / (z + 1e-6))[..., None] - z[..., None] * v.mean(dim=1)[:, None, :]
        outputs.append(out.transpose(1, 2).reshape(batch, head_dim, time, frequency))
    attention = torch.cat(outputs, dim=1) + lepe
    return pointwise(attention * gate, tensors["projection.weight"], tensors["projection.bias"])


def float64_parameters(module: torch.nn.Module) -> dict[str, Tensor]:
    """A module's parameters by name, as detached float64 copies."""
    return {name: parameter.detach().to(torch.float64).clone() for name, parameter in module.named_parameters()}
