"""Ray-casting of shaded ellipsoids into a depth-tested image, numpy only.

For an ellipsoid ``(x - c)^T Q (x - c) = 1`` in the camera frame and the ray ``x = z d`` of
pixel (u, v), ``d = ((u - cx) / fx, (v - cy) / fy, 1)``, the nearest hit depth z solves a
quadratic whose coefficients are separable in the pixel row and column, so each ellipsoid
costs a few dozen array operations over its exact projected bounding box (from the dual
conic ``K (Q^-1 - c c^T) K^T``). Shading is ambient plus Lambert with one directional light.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hpm_ros.data.synth_body import Primitives


@dataclass(frozen=True)
class _Part:
    """Per-frame coefficients of one ellipsoid (plain Python floats, for speed)."""

    bounds: tuple
    quad: tuple
    lin: tuple
    constant: float
    light: tuple
    light_offset: float
    norm_quad: tuple
    norm_lin: tuple
    norm_constant: float
    axis0: tuple
    axis1: tuple
    material: object


def _separable(forms: np.ndarray) -> np.ndarray:
    """Coefficients (xx, x, yy, y, c, xy) of ``d^T F d`` for symmetric ``F`` [..., 3, 3]."""
    return np.stack([forms[..., 0, 0], 2 * forms[..., 0, 2], forms[..., 1, 1],
                     2 * forms[..., 1, 2], forms[..., 2, 2], 2 * forms[..., 0, 1]], axis=-1)


def prepare(prims: Primitives, intrinsics: np.ndarray, light: np.ndarray) -> list:
    """Per frame, the list of drawable parts (all frames batched).

    intrinsics: ``[N, 3, 3]`` camera of each frame's output pixels; light: ``[3]`` unit vector
    towards the light, camera frame.
    """
    centres, axes, semi = prims.centres, prims.axes, prims.semi_axes
    shape = (axes / semi[..., None, :] ** 2) @ np.swapaxes(axes, -1, -2)
    inverse = (axes * semi[..., None, :] ** 2) @ np.swapaxes(axes, -1, -2)
    k = intrinsics[:, None]
    dual = k @ (inverse - centres[..., :, None] * centres[..., None, :]) @ np.swapaxes(k, -1, -2)
    with np.errstate(invalid='ignore', divide='ignore'):
        bounds = []
        for i in (0, 1):
            root = np.sqrt(dual[..., i, 2] ** 2 - dual[..., i, i] * dual[..., 2, 2])
            ends = (dual[..., i, 2, None] + np.stack([-root, root], -1)) / dual[..., 2, 2, None]
            bounds += [np.floor(ends.min(-1)), np.ceil(ends.max(-1)) + 1]
    bounds = np.stack(bounds, axis=-1)
    valid = np.all(np.isfinite(bounds), -1) & (centres[..., 2] - semi.max(-1) > 1.0)
    m = np.einsum('npij,npj->npi', shape, centres)
    constant = np.einsum('npi,npi->np', centres, m) - 1.0
    lit = np.einsum('npij,j->npi', shape, light)
    norm_quad = _separable(shape @ shape)
    norm_lin = np.einsum('npij,npj->npi', shape, m)
    axis_offsets = np.einsum('npik,npi->npk', axes, centres)
    values = [bounds.astype(int).tolist(), _separable(shape).tolist(), m.tolist(),
              constant.tolist(), lit.tolist(), np.einsum('npi,i->np', m, light).tolist(),
              norm_quad.tolist(), norm_lin.tolist(), np.sum(m * m, -1).tolist(),
              np.concatenate([axes[..., 0], axis_offsets[..., :1]], -1).tolist(),
              np.concatenate([axes[..., 1], axis_offsets[..., 1:2]], -1).tolist()]
    frames = []
    for n in range(centres.shape[0]):
        frames.append([_Part(*(v[n][p] for v in values), prims.materials[p])
                       for p in range(centres.shape[1]) if valid[n, p]])
    return frames


def _form(coefficients: tuple, dx: np.ndarray, dy: np.ndarray, dxy: np.ndarray) -> np.ndarray:
    """``d^T F d`` over the pixel block from :func:`_separable` coefficients."""
    xx, x, yy, y, c, xy = coefficients
    return (dx * (xx * dx + x) + (dy * (yy * dy + y) + c)[:, None]) + xy * dxy


def rasterise(parts: list, intrinsics: np.ndarray, depth: np.ndarray, colour: np.ndarray,
              ambient: float, diffuse: float, noise_tile: np.ndarray) -> None:
    """Draw ``parts`` (one frame of :func:`prepare`) in place; the nearest surface wins.

    depth: ``[H, W]`` mm, inf where empty; colour: ``[H, W, 3] float32``.
    """
    height, width = depth.shape
    fx, fy, cx, cy = intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2], intrinsics[1, 2]
    dx_all = (np.arange(width) - cx) / fx
    dy_all = (np.arange(height) - cy) / fy
    dxy_all = dy_all[:, None] * dx_all[None, :]
    for part in parts:
        j0, j1, i0, i1 = part.bounds
        j0, i0 = max(j0, 0), max(i0, 0)
        j1, i1 = min(j1, width), min(i1, height)
        if j0 >= j1 or i0 >= i1:
            continue
        dx, dy, dxy = dx_all[j0:j1], dy_all[i0:i1], dxy_all[i0:i1, j0:j1]
        quad = _form(part.quad, dx, dy, dxy)
        m0, m1, m2 = part.lin
        half_b = (m0 * dx) + (m1 * dy + m2)[:, None]
        disc = half_b * half_b - quad * part.constant
        t = (half_b - np.sqrt(np.maximum(disc, 0.0))) / quad
        region = depth[i0:i1, j0:j1]
        update = (disc > 0) & (t < region)
        if not update.any():
            continue
        t = t[update]
        rows, cols = np.nonzero(update)
        dxu, dyu = dx[cols], dy[rows]
        l0, l1, l2 = part.light
        facing = t * (l0 * dxu + l1 * dyu + l2) - part.light_offset
        xx, x, yy, y, c, xy = part.norm_quad
        g0, g1, g2 = part.norm_lin
        norm2 = (t * t * (dxu * (xx * dxu + x) + dyu * (yy * dyu + y) + c + xy * dxu * dyu)
                 - 2 * t * (g0 * dxu + g1 * dyu + g2) + part.norm_constant)
        shade = ambient + diffuse * np.maximum(facing, 0.0) / np.sqrt(np.maximum(norm2, 1e-24))
        material = part.material
        if material.texture == 'plain':
            pixel = shade[:, None] * material.colour
        else:
            a0, a1, a2, offset = part.axis0
            along = t * (a0 * dxu + a1 * dyu + a2) - offset
            if material.texture == 'stripes':
                mix = (np.sin(along * (2 * np.pi / material.period)) > 0).astype(float)
            else:
                b0, b1, b2, offset1 = part.axis1
                across = t * (b0 * dxu + b1 * dyu + b2) - offset1
                cell = material.period / 4.0
                mix = noise_tile[(along / cell).astype(int) % noise_tile.shape[0],
                                 (across / cell).astype(int) % noise_tile.shape[1]] - 0.75
            pixel = shade[:, None] * (material.colour + mix[:, None]
                                      * (material.colour2 - material.colour))
        region[update] = t
        colour[i0:i1, j0:j1][update] = pixel
