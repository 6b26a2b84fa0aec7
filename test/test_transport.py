"""The shipped Fast DDS profile, how processes take it, and the QoS choice for publishers."""
import xml.etree.ElementTree as ElementTree

import pytest
from rclpy.qos import ReliabilityPolicy

from hpm_ros.ros.image_input import choose_reliability
from hpm_ros.ros.transport import apply_profile, export_line, profile_for, shipped_profile

NAMESPACE = '{http://www.eprosima.com}'


def test_the_shipped_profile_replaces_the_default_transports_by_a_large_segment():
    root = ElementTree.parse(shipped_profile()).getroot()
    descriptors = {d.findtext(f'{NAMESPACE}transport_id'): d
                   for d in root.iter(f'{NAMESPACE}transport_descriptor')}
    kinds = {d.findtext(f'{NAMESPACE}type'): d for d in descriptors.values()}
    assert set(kinds) == {'SHM', 'UDPv4'}
    # bench/transport.py: 1920x1080 rgb8 (6.2 MB) best effort needs >= 8 MiB
    assert int(kinds['SHM'].findtext(f'{NAMESPACE}segment_size')) >= 8 * 2 ** 20
    participant, = root.iter(f'{NAMESPACE}participant')
    assert participant.get('is_default_profile') == 'true'
    used = [t.text for t in participant.iter(f'{NAMESPACE}transport_id')]
    assert sorted(used) == sorted(descriptors)
    assert participant.findtext(f'.//{NAMESPACE}useBuiltinTransports') == 'false'


def test_auto_takes_the_shipped_profile_unless_the_user_configured_fast_dds(tmp_path):
    assert profile_for('auto', {}) == shipped_profile()
    for variable in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE',
                     'FASTDDS_BUILTIN_TRANSPORTS'):
        assert profile_for('auto', {variable: 'something'}) is None
    assert profile_for('none', {}) is None
    own = tmp_path / 'own.xml'
    own.write_text('<dds/>')
    assert profile_for(str(own), {'FASTDDS_DEFAULT_PROFILES_FILE': 'x'}) == own
    with pytest.raises(FileNotFoundError, match='missing.xml'):
        profile_for(str(tmp_path / 'missing.xml'), {})


def test_the_variable_follows_the_fast_dds_of_the_distribution():
    kilted = {}
    assert apply_profile('auto', kilted) == shipped_profile()
    assert kilted == {'FASTDDS_DEFAULT_PROFILES_FILE': str(shipped_profile())}
    jazzy = {'ROS_DISTRO': 'jazzy'}
    apply_profile('auto', jazzy)
    assert jazzy['FASTRTPS_DEFAULT_PROFILES_FILE'] == str(shipped_profile())
    assert 'FASTDDS_DEFAULT_PROFILES_FILE' not in jazzy
    untouched = {'FASTDDS_BUILTIN_TRANSPORTS': 'SHM'}
    assert apply_profile('auto', untouched) is None and len(untouched) == 1


def test_hpm_fastdds_profile_prints_the_export_line(capsys):
    from hpm_ros.cli import main

    assert main(['fastdds-profile']) == 0
    assert capsys.readouterr().out.strip() == export_line()
    assert export_line().endswith(str(shipped_profile()))


def test_reliability_follows_the_publishers_like_ros2_bag_record():
    reliable, best_effort = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT
    assert choose_reliability([])[0] is None
    assert choose_reliability([reliable, reliable]) == (reliable, '2 publisher(s), all reliable')
    policy, reason = choose_reliability([reliable, best_effort])
    assert policy == best_effort and reason == '1 of 2 publisher(s) best effort'
    assert choose_reliability([best_effort])[0] == best_effort
