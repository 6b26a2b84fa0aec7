"""The 3D human pose machine network (paper section 3)."""
from hpm_ros.model.config import CONFIGS, LITE, PAPER, ModelConfig, get_config
from hpm_ros.model.machine import MachineOutput, PoseMachine, build_machine

__all__ = ['CONFIGS', 'LITE', 'PAPER', 'ModelConfig', 'get_config', 'MachineOutput',
           'PoseMachine', 'build_machine']
