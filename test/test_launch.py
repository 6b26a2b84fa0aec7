"""The launch file, its RViz and parameter files, and setup.py's console scripts agree."""
import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

from hpm_ros.correction import CorrectionConfig
from hpm_ros.ros.parameters import PARAMETERS, check_value, correction_overrides

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch' / 'pose.launch.py'


def _calls(tree, name):
    return [node for node in ast.walk(tree)
            if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == name]


def _keywords(call):
    return {k.arg: k.value for k in call.keywords}


def test_launch_arguments_have_descriptions_and_references_exist():
    tree = ast.parse(LAUNCH.read_text())
    arguments = _calls(tree, 'DeclareLaunchArgument')
    names = {call.args[0].value for call in arguments}
    assert names == {'image', 'camera_info', 'image_transport', 'params_file', 'fastdds_profile',
                     'namespace', 'log_level', 'autostart', 'rviz'}
    assert all(isinstance(_keywords(c).get('description'), ast.Constant) for c in arguments)
    joined = [c for c in ast.walk(tree) if isinstance(c, ast.Call)
              and getattr(c.func, 'attr', None) == 'join']
    referenced = {'/'.join(a.value for a in call.args[1:]) for call in joined}
    assert referenced == {'config/pose.yaml', 'config/hpm.rviz',
                          'config/fastdds_large_images.xml'}
    assert all((ROOT / path).is_file() for path in referenced)


def test_launch_node_matches_the_console_script():
    tree = ast.parse(LAUNCH.read_text())
    nodes = [_keywords(c) for c in _calls(tree, 'Node')]
    pose = next(n for n in nodes if n['package'].value == 'hpm_ros')
    assert pose['executable'].value == 'hpm_pose_node' and pose['name'].value == 'hpm_pose'
    # The launch file sets the Fast DDS profile for everything it starts; the node's console
    # script must then leave its environment alone.
    arguments = [a.value for a in pose['arguments'].elts if isinstance(a, ast.Constant)]
    assert arguments[:3] == ['--fastdds-profile', 'none', '--autostart']
    setter, = _calls(tree, 'SetEnvironmentVariable')
    assert 'condition' in _keywords(setter)
    setup = (ROOT / 'setup.py').read_text()
    assert "'hpm_pose_node = hpm_ros.ros.node:main'" in setup
    assert "glob('launch/*.py')" in setup


def test_params_file_declares_exactly_the_node_parameters():
    data = yaml.safe_load((ROOT / 'config' / 'pose.yaml').read_text())
    values = data['/**']['ros__parameters']
    writable = {spec.name: spec for spec in PARAMETERS if not spec.read_only}
    assert set(values) == set(writable)
    for name, value in values.items():
        assert type(value) is type(writable[name].default), name
        assert check_value(name, value) == '', name


def test_parameter_table_descriptions_ranges_and_live_knobs():
    numeric = [spec for spec in PARAMETERS
               if isinstance(spec.default, (int, float)) and not isinstance(spec.default, bool)]
    assert all(spec.description for spec in PARAMETERS)
    assert all(spec.low <= spec.default <= spec.high for spec in numeric)
    assert {spec.name for spec in PARAMETERS if spec.dynamic} == {
        'correction_preset', 'correction_max_steps', 'correction_lr', 'correction_tau_mm',
        'correction_epsilon_mm'}
    assert [spec.name for spec in PARAMETERS if spec.read_only] == ['joint_names']
    assert check_value('crop_margin', 9.0) and check_value('correction_preset', 'bogus')
    assert correction_overrides({'correction_max_steps': 3, 'correction_lr': 0.0,
                                 'correction_tau_mm': 0.0, 'correction_epsilon_mm': 2.5}) == {
        'max_steps': 3, 'epsilon_mm': 2.5}
    CorrectionConfig.from_preset('paper', max_steps=3, lr=0.1, tau_mm=10.0, epsilon_mm=2.5)


def test_rviz_config_shows_image_markers_and_poses():
    config = yaml.safe_load((ROOT / 'config' / 'hpm.rviz').read_text())
    displays = {d['Class']: d for d in config['Visualization Manager']['Displays']}
    assert displays['rviz_default_plugins/MarkerArray']['Topic']['Value'] == '/hpm_pose/markers'
    assert displays['rviz_default_plugins/PoseArray']['Topic']['Value'] == '/hpm_pose/pose3d'
    assert 'rviz_default_plugins/Image' in displays
    assert config['Visualization Manager']['Global Options']['Fixed Frame'] == \
        'camera_optical_frame'


@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None,
                    reason='launch_ros is not installable from PyPI; needs a ROS 2 install')
def test_generate_launch_description_on_a_ros_install():
    spec = importlib.util.spec_from_file_location('pose_launch', LAUNCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert len(description.entities) == 12


def test_resources_resolve_to_the_repository_without_ament(monkeypatch):
    from hpm_ros import resources

    monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    assert resources.package_share() == ROOT
    assert resources.config_path('pose.yaml') == ROOT / 'config' / 'pose.yaml'
    assert resources.default_model_path() == ROOT / 'models' / 'hpm_keypoints.pt'
    assert resources.default_model_path('psi_r') == ROOT / 'models' / 'hpm_lite.pt'
    assert resources.sample_video_path().is_file()
