"""Skeleton flavours of the CMU BVH files and their maps to Human3.6M-17.

Each :class:`RigSpec` gives, per H36M-17 joint (in ``H36M17`` order), the rig joints whose
mean is that joint, plus virtual end sites (a point fixed in a rig joint's local frame) where
a rig lacks a head top. Choices, by H36M meaning:

- Hip (pelvis centre): midpoint of the two hip (thigh) joints, level with RHip/LHip as in H36M.
- Spine (mid-torso): the rig's upper-back / chest joint about 1/2 way from Hip to Thorax.
- Thorax (neck base): the rig's lower-neck joint, a little above the shoulders.
- Neck (nose level): the rig's skull-base Head joint.
- Head (head top): the rig's head end site, or a virtual site about 13 cm up the head axis.
- Shoulders/elbows/wrists, hips/knees/ankles: the upper-arm, forearm, hand and thigh, shin,
  foot joints of the rig.

Right side shown; the left side is the same with Left/L/l. mid(a, b) is the midpoint::

    H36M     cmu_cgspeed    cmu_cgspeed_v2   cc_iclone (CC_Base_ ...)  daz_salsa
    Hip      mid(Up legs)   mid(Hips)        mid(L/R_Thigh)            mid(lThigh, rThigh)
    RHip     RightUpLeg     RightHip         R_Thigh                   rThigh
    RKnee    RightLeg       RightKnee        R_Calf                    rShin
    RFoot    RightFoot      RightAnkle       R_Foot                    rFoot
    Spine    Spine          Chest            Spine02                   mid(abdomen, chest)
    Thorax   Neck1          Neck             NeckTwist01               neck
    Neck     Head           Head             Head                      head
    Head     Head_end       Head_end         Head + (13, 1.5, 0) cm    head + (0, .1, .01)
    RShould  RightArm       RightShoulder    R_Upperarm                rShldr
    RElbow   RightForeArm   RightElbow       R_Forearm                 rForeArm
    RWrist   RightHand      RightWrist       R_Hand                    rHand

(virtual head tops: offsets in the head joint's local frame, file units.)

Flavours (all three sets of files have their world Y axis up; the iClone files are Z-up
inside the rig, but their root carries a -90 deg rotation about X):

- ``cmu_cgspeed``/``cmu_cgspeed_v2``: cgspeed conversion (``cmu/``), 1 unit = 1/0.45 inch,
  two naming variants (01_01: LeftUpLeg/LeftArm; 131_*: LeftHip/LeftShoulder).
- ``cc_iclone``: Reallusion Character Creator rig (``cmu_iclone/``), centimetres; its first
  frame is a prepended T-pose and is dropped.
- ``daz_salsa``: DAZ-style rig (``cmu_salsa/``) rescaled by bvhacker to no particular unit;
  it is scaled so that thigh + shin = :data:`NOMINAL_LEG_MM`.
- ``daz_cgspeed``: the same DAZ (Aiko3) rig, not rescaled (``cmu_daz_10_14/``, one shared
  skeleton for every performer); the same joint names as ``daz_salsa``, so it is chosen by
  folder (:data:`FOLDER_RIGS`); frame 0 is the cgspeed T-pose reference frame and is dropped.
- ``accad_mobu``: ACCAD's MotionBuilder rig (``accad/``, Male1 and Male2 each with his own
  OFFSETs), centimetres, Y up, root position from its channels. Hip = mid(Left/RightUpLeg),
  Spine = mid(Spine, Spine1), Thorax = Neck (neck base), Neck = Head (skull base),
  Head = Head_end; shoulders are LeftArm/RightArm (LeftShoulder is the clavicle).

Every flavour's absolute size is replaced later by the adult body prior
(:mod:`hpm_ros.data.body_prior`), which re-composes the bone lengths.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from hpm_ros.skeleton import H36M17

MM_PER_INCH = 25.4
NOMINAL_LEG_MM = 850.0


@dataclass(frozen=True)
class RigSpec:
    """How to turn one BVH skeleton flavour into H36M-17.

    ``joints[k]``: names of the rig joints averaged into H36M joint k.
    ``virtual_sites``: ``(name, parent joint, local offset in file units)`` points added
    to the hierarchy before forward kinematics. ``mm_per_unit`` None means: scale so that
    the rest thigh + shin length equals :data:`NOMINAL_LEG_MM` (``leg_joints`` name the
    knee and ankle joints whose offsets give it).
    """

    name: str
    signature: tuple
    up_axis: str
    mm_per_unit: float | None
    drop_first_frame: bool
    joints: tuple
    virtual_sites: tuple = ()
    leg_joints: tuple = ()


def _limbs(hip: str, knee: str, ankle: str, shoulder: str, elbow: str, wrist: str,
           left: str, right: str) -> dict:
    """Limb joints of both sides; names hold '{s}' for the side prefix."""
    limbs = {}
    for side, prefix in (('R', right), ('L', left)):
        limbs.update({
            f'{side}Hip': (hip.format(s=prefix),), f'{side}Knee': (knee.format(s=prefix),),
            f'{side}Foot': (ankle.format(s=prefix),),
            f'{side}Shoulder': (shoulder.format(s=prefix),),
            f'{side}Elbow': (elbow.format(s=prefix),), f'{side}Wrist': (wrist.format(s=prefix),),
        })
    return limbs


def _ordered(mapping: dict) -> tuple:
    """Tuple of rig-joint tuples in H36M-17 order from a {H36M name: joints} dict."""
    missing = set(H36M17.joint_names) - set(mapping)
    if missing:
        raise ValueError(f'rig map lacks {sorted(missing)}')
    return tuple(mapping[name] for name in H36M17.joint_names)


def _spec(name: str, signature: tuple, limbs: dict, trunk: dict, **kwargs) -> RigSpec:
    """Build a RigSpec whose Hip is the midpoint of the two hip joints."""
    mapping = dict(limbs, **trunk)
    mapping['Hip'] = limbs['LHip'] + limbs['RHip']
    return RigSpec(name=name, signature=signature, joints=_ordered(mapping), **kwargs)


CGSPEED_MM = MM_PER_INCH / 0.45

RIGS = (
    _spec('cmu_cgspeed', ('LeftUpLeg', 'LeftForeArm', 'Neck1'),
          _limbs('{s}UpLeg', '{s}Leg', '{s}Foot', '{s}Arm', '{s}ForeArm', '{s}Hand',
                 'Left', 'Right'),
          {'Spine': ('Spine',), 'Thorax': ('Neck1',), 'Neck': ('Head',),
           'Head': ('Head_end',)},
          up_axis='y', mm_per_unit=CGSPEED_MM, drop_first_frame=False),
    _spec('cmu_cgspeed_v2', ('LeftHip', 'LeftElbow', 'lowerneck'),
          _limbs('{s}Hip', '{s}Knee', '{s}Ankle', '{s}Shoulder', '{s}Elbow', '{s}Wrist',
                 'Left', 'Right'),
          {'Spine': ('Chest',), 'Thorax': ('Neck',), 'Neck': ('Head',),
           'Head': ('Head_end',)},
          up_axis='y', mm_per_unit=CGSPEED_MM, drop_first_frame=False),
    _spec('cc_iclone', ('CC_Base_Hip', 'CC_Base_L_Thigh', 'CC_Base_NeckTwist01'),
          _limbs('CC_Base_{s}_Thigh', 'CC_Base_{s}_Calf', 'CC_Base_{s}_Foot',
                 'CC_Base_{s}_Upperarm', 'CC_Base_{s}_Forearm', 'CC_Base_{s}_Hand', 'L', 'R'),
          {'Spine': ('CC_Base_Spine02',), 'Thorax': ('CC_Base_NeckTwist01',),
           'Neck': ('CC_Base_Head',), 'Head': ('HeadTop',)},
          up_axis='y', mm_per_unit=10.0, drop_first_frame=True,
          virtual_sites=(('HeadTop', 'CC_Base_Head', (13.0, 1.5, 0.0)),)),
    _spec('daz_salsa', ('hip', 'abdomen', 'lShldr', 'lThigh'),
          _limbs('{s}Thigh', '{s}Shin', '{s}Foot', '{s}Shldr', '{s}ForeArm', '{s}Hand',
                 'l', 'r'),
          {'Spine': ('abdomen', 'chest'), 'Thorax': ('neck',), 'Neck': ('head',),
           'Head': ('HeadTop',)},
          up_axis='y', mm_per_unit=None, drop_first_frame=False,
          virtual_sites=(('HeadTop', 'head', (0.0, 0.1, 0.01)),),
          leg_joints=('lShin', 'lFoot', 'rShin', 'rFoot')),
    _spec('accad_mobu', ('Hips', 'ToSpine', 'Spine1', 'LeftUpLeg'),
          _limbs('{s}UpLeg', '{s}Leg', '{s}Foot', '{s}Arm', '{s}ForeArm', '{s}Hand',
                 'Left', 'Right'),
          {'Spine': ('Spine', 'Spine1'), 'Thorax': ('Neck',), 'Neck': ('Head',),
           'Head': ('Head_end',)},
          up_axis='y', mm_per_unit=10.0, drop_first_frame=False),
)

# Daz units are about centimetres here (hip about 85 above the floor), about 1/129 of that
# in the rescaled salsa files: the virtual head top is the same point of the rig.
RIGS = RIGS + (replace(RIGS[3], name='daz_cgspeed', drop_first_frame=True,
                       virtual_sites=(('HeadTop', 'head', (0.0, 12.9, 1.29)),)),)

# Rigs chosen by the folder a file lies in, where joint names do not tell flavours apart.
FOLDER_RIGS = {'cmu_daz_10_14': 'daz_cgspeed'}


def detect_rig(joint_names: tuple) -> RigSpec:
    """Return the rig whose signature joints all occur in ``joint_names``; ValueError if none."""
    present = set(joint_names)
    for rig in RIGS:
        if set(rig.signature) <= present:
            return rig
    raise ValueError(
        f'unknown BVH skeleton (first joints {list(joint_names[:6])}); '
        f'known flavours: {[rig.name for rig in RIGS]}')


def rig_by_name(name: str) -> RigSpec:
    """Return the rig called ``name``; ValueError listing the known ones otherwise."""
    for rig in RIGS:
        if rig.name == name:
            return rig
    raise ValueError(f'unknown rig {name!r}; known: {[rig.name for rig in RIGS]}')
