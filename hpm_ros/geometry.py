"""Camera geometry, pose normalisation, Procrustes alignment and root placement (numpy).

Frames follow the package conventions: the camera frame is the optical frame (x right, y down,
z forward), ``x_cam = R @ x_world + t``, pixels are (x right, y down).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NORMALISATION_EPSILON = 1e-6


def _is_torch(value) -> bool:
    return type(value).__module__.split('.')[0] == 'torch'


def _last_dim(array: np.ndarray, size: int, name: str) -> None:
    if array.ndim < 1 or array.shape[-1] != size:
        raise ValueError(f'{name} must have shape [..., {size}], got {array.shape}')


def _intrinsics(intrinsics) -> np.ndarray:
    matrix = np.asarray(intrinsics, dtype=np.float64)
    if matrix.shape != (3, 3):
        raise ValueError(f'intrinsics must have shape [3, 3], got {matrix.shape}')
    return matrix


def intrinsics_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Pinhole camera matrix [3, 3] float64 from focal lengths and principal point (pixels)."""
    if fx <= 0 or fy <= 0:
        raise ValueError(f'focal lengths must be positive, got fx={fx}, fy={fy}')
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def project_points(points, intrinsics) -> np.ndarray:
    """Project camera-frame points [..., 3] (any unit) to pixels [..., 2] float64.

    Points with z <= 0 (on or behind the camera plane) project to NaN.
    """
    points = np.asarray(points, dtype=np.float64)
    _last_dim(points, 3, 'points')
    homogeneous = points @ _intrinsics(intrinsics).T
    depth = homogeneous[..., 2:]
    with np.errstate(divide='ignore', invalid='ignore'):
        pixels = homogeneous[..., :2] / depth
    return np.where(points[..., 2:] > 0, pixels, np.nan)


def unproject_points(pixels, depth, intrinsics) -> np.ndarray:
    """Camera-frame points [..., 3] from pixels [..., 2] and their depth (z) [...]."""
    pixels = np.asarray(pixels, dtype=np.float64)
    _last_dim(pixels, 2, 'pixels')
    depth = np.asarray(depth, dtype=np.float64)
    if depth.shape != pixels.shape[:-1]:
        raise ValueError(f'depth must have shape {pixels.shape[:-1]}, got {depth.shape}')
    homogeneous = np.concatenate([pixels, np.ones_like(pixels[..., :1])], axis=-1)
    rays = homogeneous @ np.linalg.inv(_intrinsics(intrinsics)).T
    return rays * depth[..., None]


def _rigid(rotation, translation) -> tuple:
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    if rotation.shape != (3, 3) or translation.shape != (3,):
        raise ValueError(f'rotation must be [3, 3] and translation [3], got {rotation.shape} '
                         f'and {translation.shape}')
    return rotation, translation


def world_to_camera(points, rotation, translation) -> np.ndarray:
    """World points [..., 3] to the camera frame: ``R @ x + t`` (same unit as ``t``)."""
    rotation, translation = _rigid(rotation, translation)
    points = np.asarray(points, dtype=np.float64)
    _last_dim(points, 3, 'points')
    return points @ rotation.T + translation


def camera_to_world(points, rotation, translation) -> np.ndarray:
    """Camera-frame points [..., 3] to the world: ``R.T @ (x - t)``, inverse of world_to_camera.

    ``rotation`` and ``translation`` are the world-to-camera extrinsics.
    """
    rotation, translation = _rigid(rotation, translation)
    points = np.asarray(points, dtype=np.float64)
    _last_dim(points, 3, 'points')
    return (points - translation) @ rotation


def root_relative(poses, root: int = 0):
    """Poses [..., K, 3] minus their joint ``root``: root-relative, same unit and frame.

    Works on numpy arrays and torch tensors alike.
    """
    if not _is_torch(poses):
        poses = np.asarray(poses)
    if poses.ndim < 2 or not -poses.shape[-2] <= root < poses.shape[-2]:
        raise ValueError(f'root {root} out of range for poses of shape {tuple(poses.shape)}')
    root = root % poses.shape[-2]
    return poses - poses[..., root:root + 1, :]


@dataclass(eq=False)
class NormalisationStats:
    """Per-coordinate min-max statistics of training poses (paper §4.1).

    ``minimum`` and ``maximum``: [K, D] float32, in the unit of the poses (mm, root-relative).
    """

    minimum: np.ndarray
    maximum: np.ndarray

    def __post_init__(self) -> None:
        """Convert to float32 and check shapes."""
        self.minimum = np.asarray(self.minimum, dtype=np.float32)
        self.maximum = np.asarray(self.maximum, dtype=np.float32)
        if self.minimum.ndim != 2 or self.minimum.shape != self.maximum.shape:
            raise ValueError(f'minimum and maximum must both be [K, D], got '
                             f'{self.minimum.shape} and {self.maximum.shape}')
        if not (np.all(np.isfinite(self.minimum)) and np.all(np.isfinite(self.maximum))):
            raise ValueError('normalisation statistics must be finite')
        if np.any(self.maximum < self.minimum):
            raise ValueError('normalisation maximum is below its minimum')

    @classmethod
    def fit(cls, poses) -> NormalisationStats:
        """Statistics of poses [N, K, D] (N >= 1, finite)."""
        poses = np.asarray(poses, dtype=np.float64)
        if poses.ndim != 3 or poses.shape[0] == 0:
            raise ValueError(f'poses must have shape [N, K, D] with N >= 1, got {poses.shape}')
        return cls(minimum=poses.min(axis=0), maximum=poses.max(axis=0))

    @property
    def extent(self) -> np.ndarray:
        """[K, D] float32: maximum - minimum, at least NORMALISATION_EPSILON."""
        return np.maximum(self.maximum - self.minimum, np.float32(NORMALISATION_EPSILON))

    def _stats_like(self, x) -> tuple:
        if _is_torch(x):
            import torch
            return (torch.as_tensor(self.minimum, dtype=x.dtype, device=x.device),
                    torch.as_tensor(self.extent, dtype=x.dtype, device=x.device))
        return self.minimum, self.extent

    def normalise(self, x):
        """Poses [..., K, D] to [0, 1] per coordinate (numpy array or torch tensor)."""
        minimum, extent = self._stats_like(x)
        return (x - minimum) / extent

    def denormalise(self, x):
        """Inverse of ``normalise``: [..., K, D] in [0, 1] back to the poses' unit."""
        minimum, extent = self._stats_like(x)
        return x * extent + minimum

    def to_dict(self) -> dict:
        """Plain nested lists, for checkpoints."""
        return {'minimum': self.minimum.tolist(), 'maximum': self.maximum.tolist()}

    @classmethod
    def from_dict(cls, data: dict) -> NormalisationStats:
        """Inverse of ``to_dict``; ValueError on missing or unknown keys."""
        if not isinstance(data, dict) or set(data) != {'minimum', 'maximum'}:
            raise ValueError("normalisation statistics need exactly the keys 'minimum' and "
                             f"'maximum', got {data!r:.80}")
        return cls(minimum=data['minimum'], maximum=data['maximum'])


def expand_joint_mask(mask, num_samples: int, num_joints: int) -> np.ndarray:
    """Boolean joint mask [N, K] from None (all joints), [K] or [N, K] bool."""
    if mask is None:
        return np.ones((num_samples, num_joints), dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f'joint mask must be boolean, got {mask.dtype}')
    if mask.shape not in ((num_joints,), (num_samples, num_joints)):
        raise ValueError(f'joint mask must be [{num_joints}] or [{num_samples}, {num_joints}], '
                         f'got {mask.shape}')
    return np.broadcast_to(mask, (num_samples, num_joints))


def procrustes_align(predicted, target, scale: bool = True, mask=None) -> np.ndarray:
    """Align each predicted pose to its target by a similarity (or rigid) transform.

    ``predicted``, ``target``: [N, K, 3]. The rotation is proper (reflections are fixed), the
    translation and, when ``scale``, a uniform scale are fitted by least squares on the joints
    of ``mask`` ([K] or [N, K] bool, default all) and applied to all joints. Returns the aligned
    predicted poses [N, K, 3] float64; NaN for samples whose mask selects no joint.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if predicted.ndim != 3 or predicted.shape[-1] != 3 or predicted.shape != target.shape:
        raise ValueError(f'predicted and target must both be [N, K, 3], got {predicted.shape} '
                         f'and {target.shape}')
    selected = expand_joint_mask(mask, *predicted.shape[:2])[..., None]
    count = np.maximum(selected.sum(axis=1, keepdims=True), 1)
    mean_predicted = np.where(selected, predicted, 0.0).sum(axis=1, keepdims=True) / count
    mean_target = np.where(selected, target, 0.0).sum(axis=1, keepdims=True) / count
    centred = predicted - mean_predicted
    centred_fit = np.where(selected, centred, 0.0)
    covariance = np.einsum('nki,nkj->nij', centred_fit,
                           np.where(selected, target - mean_target, 0.0))
    left, singular, right_t = np.linalg.svd(covariance)
    sign = np.sign(np.linalg.det(left @ right_t))
    left[..., :, 2] *= sign[:, None]
    singular[:, 2] *= sign
    rotation = left @ right_t
    if scale:
        spread = (centred_fit ** 2).sum(axis=(1, 2))
        factor = np.divide(singular.sum(axis=1), spread, out=np.zeros_like(spread),
                           where=spread > 0)
    else:
        factor = np.ones(predicted.shape[0])
    aligned = factor[:, None, None] * centred @ rotation + mean_target
    aligned[~selected[:, :, 0].any(axis=1)] = np.nan
    return aligned


def place_root_by_reprojection(pose_rel, keypoints, intrinsics, weights=None) -> np.ndarray:
    """Root translation T [3] float64 (unit of ``pose_rel``) that makes the pose fit keypoints.

    ``pose_rel``: [K, 3] root-relative pose in camera-frame orientation (mm); ``keypoints``:
    [K, 2] pixels; ``weights``: [K] non-negative confidences (default 1). Solves the linear
    least-squares system that ``K @ (p_k + T) ~ (u_k, v_k, 1)`` gives after multiplying out the
    depth (two rows per joint, each scaled by sqrt(weight)). Joints with zero weight or
    non-finite values are ignored. ValueError when fewer than 2 joints remain, the system is
    rank-deficient or the root lands at z <= 0.
    """
    pose_rel = np.asarray(pose_rel, dtype=np.float64)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    matrix = _intrinsics(intrinsics)
    if matrix[1, 0] != 0 or not np.array_equal(matrix[2], [0.0, 0.0, 1.0]):
        raise ValueError('intrinsics must be upper triangular with last row [0, 0, 1]')
    if pose_rel.ndim != 2 or pose_rel.shape[1] != 3:
        raise ValueError(f'pose_rel must have shape [K, 3], got {pose_rel.shape}')
    if keypoints.shape != (pose_rel.shape[0], 2):
        raise ValueError(f'keypoints must have shape [{pose_rel.shape[0]}, 2], '
                         f'got {keypoints.shape}')
    if weights is None:
        weights = np.ones(pose_rel.shape[0])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (pose_rel.shape[0],):
        raise ValueError(f'weights must have shape [{pose_rel.shape[0]}], got {weights.shape}')
    if np.any(weights < 0):
        raise ValueError('weights must be non-negative')
    valid = ((weights > 0) & np.isfinite(weights) & np.all(np.isfinite(pose_rel), axis=1)
             & np.all(np.isfinite(keypoints), axis=1))
    if valid.sum() < 2:
        raise ValueError(f'root placement needs at least 2 valid joints, got {valid.sum()}')
    points, pixels, sqrt_w = pose_rel[valid], keypoints[valid], np.sqrt(weights[valid])
    (fx, skew, cx), (_, fy, cy) = matrix[0], matrix[1]
    u, v = pixels[:, 0], pixels[:, 1]
    x, y, z = points.T
    zeros = np.zeros_like(u)
    # fx (x + Tx) + skew (y + Ty) + cx (z + Tz) = u (z + Tz), likewise for v, linear in T.
    rows_u = np.stack([np.full_like(u, fx), np.full_like(u, skew), cx - u], axis=1)
    rows_v = np.stack([zeros, np.full_like(v, fy), cy - v], axis=1)
    rhs_u = (u - cx) * z - fx * x - skew * y
    rhs_v = (v - cy) * z - fy * y
    system = np.concatenate([rows_u, rows_v]) * np.concatenate([sqrt_w, sqrt_w])[:, None]
    rhs = np.concatenate([rhs_u, rhs_v]) * np.concatenate([sqrt_w, sqrt_w])
    translation, _, rank, _ = np.linalg.lstsq(system, rhs, rcond=None)
    if rank < 3:
        raise ValueError('root placement is under-determined (degenerate pose or keypoints)')
    if translation[2] <= 0:
        raise ValueError(f'root placement puts the root behind the camera (z={translation[2]})')
    return translation
