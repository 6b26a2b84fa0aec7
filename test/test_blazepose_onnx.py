"""Shipped BlazePose ONNX files: the tflite's inputs and outputs, parity, TensorRT-ready ops.

The files are made by ``tools/blazepose_onnx.py`` from the shipped tflite models; these
tests compare them with the tflite under LiteRT (onnxruntime and LiteRT, CPU, one thread).
"""
import hashlib
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from hpm_ros.crop import CropBox, crop_image, letterbox_box
from hpm_ros.resources import package_share
from hpm_ros.video import read_frames

litert = pytest.importorskip(
    'ai_edge_litert.interpreter',
    reason='ai_edge_litert (LiteRT, ai-edge-litert in requirements.txt) is not importable: '
           'no tflite reference to compare the ONNX files with')

MODELS = package_share() / 'models' / 'blazepose'
VIDEO = package_share() / 'samples' / 'room_walk.mp4'
FRAME = 80
# Input size, the value range MediaPipe feeds the model and the crop of the real frame:
# the letterboxed frame for the detector, a square around the person (picked by eye on frame
# 80) for the landmark model. The same inputs as tools/blazepose_onnx.py.
INPUTS = {'pose_detection': (224, (-1.0, 1.0), None),
          'pose_landmark_full': (256, (0.0, 1.0), CropBox(230.0, 10.0, 400.0))}
# Largest |onnxruntime - LiteRT| allowed per output (about 5-10 times what was measured on
# seed 0, seed 1 and the real frame; SOURCE.md has the measured numbers).
TOLERANCES = {
    'pose_detection': {
        'Identity': (0.01, 'box and keypoint regressors, input pixels (224)'),
        'Identity_1': (0.01, 'person score logits')},
    'pose_landmark_full': {
        'Identity': (0.02, '39 × (x, y, z in crop pixels (256), visibility, presence logits)'),
        'Identity_1': (1e-4, 'pose presence, probability'),
        'Identity_2': (0.01, 'segmentation, compared as probability (sigmoid of the logits: '
                             'the logits reach ±1700, and differ by up to 0.5 where they do)'),
        'Identity_3': (2e-3, 'landmark heatmaps (64 × 64 × 39)'),
        'Identity_4': (1e-3, '39 world landmarks × (x, y, z), metres')},
}
PROBABILITY_OUTPUTS = {('pose_landmark_full', 'Identity_2')}
# ONNX op types allowed, each supported by TensorRT's ONNX parser (onnx-tensorrt
# docs/operators.md), with the restriction that matters here; test_ops_tensorrt_supported
# checks those restrictions.
TENSORRT_OPS = {
    'Add': 'elementwise, FP32',
    'Clip': 'ReLU6 (min/max constants)',
    'Concat': 'anchors of the detector heads',
    'Conv': '2D only, weights W must be an initializer',
    'DepthToSpace': 'detector upsampling',
    'MaxPool': '2D only, no Indices output',
    'Pad': 'constant padding before strided convolutions',
    'Reshape': 'static shapes',
    'Resize': "modes 'linear' / 'nearest', transformations incl. 'half_pixel'",
    'Sigmoid': 'pose presence',
    'Transpose': 'NHWC input and outputs around the NCHW graph',
}


def onnx_path(name):
    """Return the path of the shipped ONNX file of model ``name``."""
    return MODELS / f'{name}.onnx'


@pytest.fixture(scope='module', params=sorted(INPUTS))
def pair(request):
    """(name, ONNX model, onnxruntime session, LiteRT interpreter) of one model."""
    name = request.param
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path(name)), options,
                                   providers=['CPUExecutionProvider'])
    interpreter = litert.Interpreter(model_path=str(MODELS / f'{name}.tflite'), num_threads=1)
    interpreter.allocate_tensors()
    return name, onnx.load(str(onnx_path(name))), session, interpreter


@pytest.fixture(scope='module')
def frame():
    """Frame 80 of the sample video (a person in full view), [H, W, 3] uint8 RGB."""
    for index, image in read_frames(VIDEO, max_frames=FRAME + 1):
        if index == FRAME:
            return image
    raise AssertionError(f'{VIDEO} has no frame {FRAME}')


def details(interpreter_details):
    """Return [(name, shape)] of LiteRT input or output details."""
    return [(d['name'], [int(s) for s in d['shape']]) for d in interpreter_details]


def test_inputs_and_outputs_are_the_tflite_ones(pair):
    """One input and the outputs of the tflite: names, order, shapes, float32; in metadata too."""
    name, model, session, interpreter = pair
    inputs, outputs = (details(interpreter.get_input_details()),
                       details(interpreter.get_output_details()))
    assert [(a.name, a.shape) for a in session.get_inputs()] == inputs
    assert [(a.name, a.shape) for a in session.get_outputs()] == outputs
    assert {a.type for a in (*session.get_inputs(), *session.get_outputs())} == {'tensor(float)'}
    size = INPUTS[name][0]
    assert inputs == [('input_1', [1, size, size, 3])]
    props = {p.key: p.value for p in model.metadata_props}
    for key, expected in (('tflite_inputs', inputs), ('tflite_outputs', outputs)):
        stored = json.loads(props[key])
        assert [(t['name'], t['shape']) for t in stored] == expected
        assert {t['dtype'] for t in stored} == {'float32'}
    tflite = MODELS / f'{name}.tflite'
    assert props['source'] == tflite.name
    assert props['source_sha256'] == hashlib.sha256(tflite.read_bytes()).hexdigest()


def test_checked_opset_17_static_shapes(pair):
    """Files pass the full ONNX check, use opset 17 only and static input/output shapes."""
    _, model, _, _ = pair
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [('', 17)]
    for value in (*model.graph.input, *model.graph.output):
        assert all(d.HasField('dim_value') for d in value.type.tensor_type.shape.dim)


def test_ops_tensorrt_supported(pair):
    """Only TENSORRT_OPS, within the restrictions of the TensorRT ONNX parser."""
    _, model, _, _ = pair
    ops = {node.op_type for node in model.graph.node}
    assert ops <= set(TENSORRT_OPS), f'ops outside the TensorRT list: {ops - set(TENSORRT_OPS)}'
    initializers = {i.name for i in model.graph.initializer}
    for node in model.graph.node:
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == 'Conv':
            assert node.input[1] in initializers
            assert len(attributes['kernel_shape']) == 2
        elif node.op_type == 'MaxPool':
            assert len(node.output) == 1 and len(attributes['kernel_shape']) == 2
        elif node.op_type == 'Resize':
            assert attributes['mode'] in (b'linear', b'nearest')
            assert attributes['coordinate_transformation_mode'] in (
                b'half_pixel', b'pytorch_half_pixel', b'asymmetric', b'align_corners')


def model_input(name, frame):
    """Return the real-frame input of model ``name``, [1, S, S, 3] float32."""
    size, (low, high), box = INPUTS[name]
    if box is None:
        box = letterbox_box(frame.shape[1], frame.shape[0])
    image = crop_image(frame, box, size).astype(np.float32) / 255.0
    return (low + (high - low) * image)[None]


def seeded_input(name):
    """Return a seeded uniform random input of model ``name`` in its value range."""
    size, (low, high), _ = INPUTS[name]
    return np.random.default_rng(0).uniform(low, high, (1, size, size, 3)).astype(np.float32)


def assert_parity(pair, image):
    """Assert that onnxruntime and LiteRT agree on ``image`` within ``TOLERANCES``."""
    name, _, session, interpreter = pair
    interpreter.set_tensor(interpreter.get_input_details()[0]['index'], image)
    interpreter.invoke()
    outputs = session.run(None, {'input_1': image})
    for detail, out in zip(interpreter.get_output_details(), outputs):
        ref = interpreter.get_tensor(detail['index']).astype(np.float64)
        out = out.astype(np.float64)
        if (name, detail['name']) in PROBABILITY_OUTPUTS:
            ref, out = 0.5 * (1.0 + np.tanh(ref / 2.0)), 0.5 * (1.0 + np.tanh(out / 2.0))
        tolerance, meaning = TOLERANCES[name][detail['name']]
        difference = np.abs(out - ref).max()
        assert difference <= tolerance, f'{name} {detail["name"]} ({meaning}): {difference}'


def test_parity_on_seeded_input(pair):
    """The ONNX file matches the tflite on a seeded uniform random input."""
    assert_parity(pair, seeded_input(pair[0]))


def test_parity_on_real_frame(pair, frame):
    """The ONNX file matches the tflite on a real frame, and sees the person in it."""
    name, _, session, _ = pair
    image = model_input(name, frame)
    assert_parity(pair, image)
    scores = session.run(None, {'input_1': image})[1]
    if name == 'pose_detection':
        assert scores.max() > 0.0, 'no anchor scores the person above 0.5 (logit > 0)'
    else:
        assert scores.item() > 0.99, 'pose presence of the person crop'


def test_source_md_lists_the_shipped_files():
    """SOURCE.md gives the size and sha256 of the shipped ONNX files."""
    text = (MODELS / 'SOURCE.md').read_text()
    for name in INPUTS:
        data = onnx_path(name).read_bytes()
        row = f'| {name}.onnx | {len(data)} | {hashlib.sha256(data).hexdigest()} |'
        assert row in text, f'SOURCE.md has no row {row}'
