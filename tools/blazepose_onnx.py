#!/usr/bin/env python3
r"""Convert the shipped BlazePose GHUM tflite models to ONNX and prove parity with LiteRT.

Set-up: a throwaway venv (tensorflow never goes into the project's ``.venv``), ~1.7 GB::

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2 \
        onnxruntime==1.32.0 ai-edge-litert==2.3.0 av==18.1.0 pillow==13.0.0 numpy==2.4.6

Run from the repository root (``hpm_ros.crop`` and ``hpm_ros.video`` are imported from this
checkout; the throwaway venv does not install the package)::

    /tmp/tfvenv/bin/python tools/blazepose_onnx.py --tflite-dir models/blazepose \
        --output-dir models/blazepose

For each of ``pose_detection`` and ``pose_landmark_full``:

1. Fold. Every DENSIFY and DEQUANTIZE operator whose input is a constant is replaced by a
   dense constant in a temporary copy of the tflite flatbuffer (edited with
   ``tensorflow.lite.tools.flatbuffer_utils``). The values are the operators' outputs as
   LiteRT computes them, read with ``experimental_preserve_all_tensors=True`` and
   ``OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES`` (the default XNNPACK delegate returns
   zeros for intermediate tensors). Each value is checked: a DEQUANTIZE output equals its
   float16 input cast to float32; a DENSIFY output holds exactly the sparse tensor's non-zero
   values. The detector needs this (its weights are sparse float16, and tf2onnx 1.17 fails on
   them: "cannot reshape array of size 96 into shape (16,1,1,24)"); for the landmark model
   (dense float16 weights) it does what tf2onnx's optimiser would do anyway (the initializers
   come out identical). All weights end up float32.
2. Convert with ``tf2onnx.convert.from_tflite`` at opset 17: one NHWC float32 input named
   and shaped as the tflite input, outputs named after the tflite output tensors in the order
   of ``Interpreter.get_output_details()``. Unused opset imports are dropped; node and inner
   tensor names lose tf2onnx's run-dependent counters (so the file is byte-identical from
   run to run); ``metadata_props`` get ``tflite_inputs`` and ``tflite_outputs`` (JSON lists
   of {"name", "shape", "dtype"} in interpreter order), ``source``, ``source_sha256`` and
   ``converter`` (tool versions).
3. Check: ``onnx.checker`` (full check) and the input/output contract against the tflite
   interpreter; print the op types.
4. Parity: onnxruntime (CPU, 1 thread) against LiteRT (default delegate, 1 thread) on seeded
   uniform random inputs and on a real frame (``--video`` frame ``--frame``, letterboxed for
   the detector, a fixed square around the person for the landmark model), in the input
   ranges MediaPipe feeds the models ([-1, 1] detector, [0, 1] landmarks). Prints the max
   and median absolute difference per output and fails, writing nothing, where a max
   difference exceeds ``RTOL`` times the output's largest magnitude plus ``ATOL``.
5. Latency: median and min over ``--runs`` calls of each runtime, one thread, on the real
   input (the runtimes take turns).
6. Write ``<name>.onnx`` to ``--output-dir`` and print its size and sha256.
"""
from __future__ import annotations

import argparse
import collections
import hashlib
from importlib import metadata
import json
import os
from pathlib import Path
import re
import sys
import tempfile
import time
from typing import Callable

from ai_edge_litert.interpreter import Interpreter, OpResolverType
import numpy as np
import onnx
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from hpm_ros.crop import CropBox, crop_image, letterbox_box  # noqa: E402
from hpm_ros.video import read_frames  # noqa: E402

OPSET = 17
MODELS = ('pose_detection', 'pose_landmark_full')
# Value range of the image tensor MediaPipe feeds each model.
INPUT_RANGE = {'pose_detection': (-1.0, 1.0), 'pose_landmark_full': (0.0, 1.0)}
# Square around the person in frame 80 of samples/room_walk.mp4 (768×432), picked by eye.
PERSON_BOX = CropBox(230.0, 10.0, 400.0)
FOLDABLE = ('DENSIFY', 'DEQUANTIZE')
SEEDS = (0, 1)
# Parity gate: max |onnxruntime - LiteRT| <= RTOL * max |LiteRT| + ATOL, per output.
RTOL, ATOL = 1e-3, 1e-4


def fold_constants(tflite_path: Path, folded_path: Path) -> collections.Counter:
    """Write a copy of a tflite model whose constant DENSIFY / DEQUANTIZE ops are folded.

    Return how many operators of each type were folded.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(tflite_path))
    if len(model.subgraphs) != 1:
        raise ValueError(f'{tflite_path}: expected one subgraph, got {len(model.subgraphs)}')
    subgraph = model.subgraphs[0]
    interpreter = Interpreter(
        model_path=str(tflite_path), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail['index'], np.zeros(detail['shape'], detail['dtype']))
    interpreter.invoke()

    # Constant tensors: float16 values (flat) where this fold reads them, None for the others.
    constants = {}
    for index, tensor in enumerate(subgraph.tensors):
        data = model.buffers[tensor.buffer].data if tensor.buffer > 0 else None
        if data is not None and len(data):
            constants[index] = (np.frombuffer(bytes(data), np.float16)
                                if tensor.type == schema.TensorType.FLOAT16 else None)
    kept, folded = [], collections.Counter()
    for op in subgraph.operators:
        name = flatbuffer_utils.opcode_to_name(model, op.opcodeIndex)
        inputs, outputs = [int(i) for i in op.inputs], [int(i) for i in op.outputs]
        if name not in FOLDABLE or len(inputs) != 1 or inputs[0] not in constants:
            kept.append(op)
            continue
        target = subgraph.tensors[outputs[0]]
        value = interpreter.get_tensor(outputs[0])
        check_folded(name, constants[inputs[0]], value, target)
        model.buffers.append(schema.BufferT())
        model.buffers[-1].data = np.frombuffer(value.tobytes(), np.uint8)
        target.buffer = len(model.buffers) - 1
        constants[outputs[0]] = value.reshape(-1)
        folded[name] += 1
    subgraph.operators = kept
    used = {int(i) for op in kept for i in op.inputs}
    used |= {int(i) for i in subgraph.inputs} | {int(i) for i in subgraph.outputs}
    for index, tensor in enumerate(subgraph.tensors):
        if index not in used:  # e.g. the sparse weights: tf2onnx would try to read them
            tensor.buffer, tensor.sparsity = 0, None
    flatbuffer_utils.write_model(model, str(folded_path))
    return folded


def check_folded(op_name: str, source: np.ndarray | None, value: np.ndarray, target) -> None:
    """Raise ValueError unless ``value`` is what ``op_name`` makes of the float16 ``source``.

    A DENSIFY output holds exactly the sparse values (and zeros), a DEQUANTIZE output is
    ``source`` as float32; both have the shape of the output tensor ``target``.
    """
    where = f'{op_name} -> {target.name.decode()!r}'
    if source is None:
        raise ValueError(f'{where}: input is not a float16 constant')
    if list(value.shape) != [int(s) for s in target.shape]:
        raise ValueError(f'{where}: LiteRT value has shape {value.shape}')
    if op_name == 'DENSIFY':
        good = (value.dtype == np.float16
                and np.array_equal(np.sort(value[value != 0]), np.sort(source[source != 0])))
    else:
        good = (value.dtype == np.float32
                and np.array_equal(value.reshape(-1), source.astype(np.float32)))
    if not good:
        raise ValueError(f'{where}: LiteRT value does not match the constant')


def tensor_list(details: list) -> list:
    """Return [{'name', 'shape', 'dtype'}] of interpreter input or output details."""
    return [{'name': d['name'], 'shape': [int(s) for s in d['shape']],
             'dtype': np.dtype(d['dtype']).name} for d in details]


def convert(folded_path: Path, source: Path, interpreter: Interpreter) -> onnx.ModelProto:
    """Return the checked ONNX model of the folded tflite, with the interpreter's outputs."""
    import tensorflow as tf
    import tf2onnx

    outputs = tensor_list(interpreter.get_output_details())
    model, _ = tf2onnx.convert.from_tflite(
        str(folded_path), opset=OPSET, output_names=[o['name'] for o in outputs])
    used = {node.domain for node in model.graph.node} | {''}
    kept = [o for o in model.opset_import if o.domain in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    model.graph.name = source.stem
    canonical_names(model.graph)
    props = {
        'source': source.name,
        'source_sha256': sha256(source),
        'tflite_inputs': json.dumps(tensor_list(interpreter.get_input_details())),
        'tflite_outputs': json.dumps(outputs),
        'converter': (f'tools/blazepose_onnx.py: tf2onnx {tf2onnx.__version__}, '
                      f'tensorflow {tf.__version__}, opset {OPSET}'),
    }
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model, full_check=True)
    return model


def canonical_names(graph: onnx.GraphProto) -> None:
    """Rename the nodes and inner tensors of ``graph`` the same way on every run.

    tf2onnx puts '__<counter>' into the names it makes, and its counters follow set and dict
    orders that change between runs. Each name loses those parts and gets '__<k>' back only
    where needed to stay unique, in order of first use; the initializers are sorted in that
    order. Graph inputs and outputs keep their names.
    """
    tensors = {v.name: v.name for v in (*graph.input, *graph.output)}
    taken = {'node': set(), 'tensor': set(tensors)}

    def fresh(name: str, kind: str) -> str:
        base = re.sub(r'__\d+', '', name)
        new, count = base, 0
        while new in taken[kind]:
            count += 1
            new = f'{base}__{count}'
        taken[kind].add(new)
        return new

    def tensor(name: str) -> str:
        if name and name not in tensors:
            tensors[name] = fresh(name, 'tensor')
        return tensors.get(name, name)

    for node in graph.node:
        node.name = fresh(node.name, 'node')
        node.input[:] = [tensor(name) for name in node.input]
        node.output[:] = [tensor(name) for name in node.output]
    for info in graph.value_info:
        info.name = tensor(info.name)
    for initializer in graph.initializer:
        initializer.name = tensor(initializer.name)
    rank = {name: index for index, name in enumerate(tensors.values())}
    initializers = sorted(graph.initializer, key=lambda i: rank[i.name])
    graph.ClearField('initializer')
    graph.initializer.extend(initializers)


def check_contract(session: ort.InferenceSession, interpreter: Interpreter) -> None:
    """Raise ValueError unless the ONNX inputs and outputs are the tflite's, in order."""
    for kind, onnx_args, tflite_details in (
            ('input', session.get_inputs(), interpreter.get_input_details()),
            ('output', session.get_outputs(), interpreter.get_output_details())):
        got = [(a.name, list(a.shape), a.type) for a in onnx_args]
        want = [(t['name'], t['shape'], 'tensor(float)') for t in tensor_list(tflite_details)]
        if got != want:
            raise ValueError(f'ONNX {kind}s {got} differ from the tflite {kind}s {want}')


def sha256(path: Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def real_input(name: str, frame: np.ndarray) -> np.ndarray:
    """Return the [1, S, S, 3] float32 input of model ``name`` made from an RGB frame.

    The detector gets the letterboxed frame, the landmark model ``PERSON_BOX``, both scaled
    to the model's input range.
    """
    size, box = ((224, letterbox_box(frame.shape[1], frame.shape[0]))
                 if name == 'pose_detection' else (256, PERSON_BOX))
    low, high = INPUT_RANGE[name]
    image = crop_image(frame, box, size).astype(np.float32) / 255.0
    return (low + (high - low) * image)[None]


def seeded_input(name: str, shape: list, seed: int) -> np.ndarray:
    """Return a uniform random float32 input of ``shape`` in the model's input range."""
    low, high = INPUT_RANGE[name]
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


def run_litert(interpreter: Interpreter, image: np.ndarray) -> list:
    """Return the LiteRT outputs for ``image``, in ``get_output_details()`` order."""
    interpreter.set_tensor(interpreter.get_input_details()[0]['index'], image)
    interpreter.invoke()
    return [interpreter.get_tensor(d['index']).copy()
            for d in interpreter.get_output_details()]


def time_ms(calls: dict[str, Callable[[], object]], runs: int) -> dict[str, tuple]:
    """Return (median, min) wall time in ms of each of ``calls`` ({label: function}).

    After 5 warm-up calls each, the calls take turns ``runs`` times, so that both runtimes
    see the same load of a shared machine.
    """
    for call in calls.values():
        for _ in range(5):
            call()
    times = {label: [] for label in calls}
    for _ in range(runs):
        for label, call in calls.items():
            start = time.perf_counter()
            call()
            times[label].append(time.perf_counter() - start)
    return {label: (1000.0 * float(np.median(t)), 1000.0 * min(t))
            for label, t in times.items()}


def one_thread_session(model: bytes) -> ort.InferenceSession:
    """Return a CPU onnxruntime session on one thread."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=['CPUExecutionProvider'])


def compare(name: str, interpreter: Interpreter, session: ort.InferenceSession,
            frame: np.ndarray) -> list:
    """Print the parity table of one model; return the lines that fail the gate."""
    in_name, shape = session.get_inputs()[0].name, interpreter.get_input_details()[0]['shape']
    inputs = [(f'seed {seed}', seeded_input(name, shape, seed)) for seed in SEEDS]
    inputs.append(('real frame', real_input(name, frame)))
    print(f'{"input":<11} {"output":<11} {"shape":<16} {"max |ref|":>10} {"max diff":>10} '
          f'{"median diff":>12}')
    failures = []
    for label, image in inputs:
        reference = run_litert(interpreter, image)
        outputs = session.run(None, {in_name: image})
        for detail, ref, out in zip(interpreter.get_output_details(), reference, outputs):
            diff = np.abs(out.astype(np.float64) - ref)
            line = (f'{label:<11} {detail["name"]:<11} {str(list(ref.shape)):<16} '
                    f'{np.abs(ref).max():10.4g} {diff.max():10.3g} {np.median(diff):12.3g}')
            print(line)
            if diff.max() > RTOL * np.abs(ref).max() + ATOL:
                failures.append(line)
    return failures


def process(name: str, tflite_dir: Path, output_dir: Path, frame: np.ndarray,
            runs: int) -> None:
    """Fold, convert, check, compare, time and write one model; print what was found."""
    source = tflite_dir / f'{name}.tflite'
    interpreter = Interpreter(model_path=str(source), num_threads=1)
    interpreter.allocate_tensors()
    with tempfile.TemporaryDirectory() as scratch:
        folded_path = Path(scratch) / source.name
        folded = fold_constants(source, folded_path)
        model = convert(folded_path, source, interpreter)
    data = model.SerializeToString()
    session = one_thread_session(data)
    check_contract(session, interpreter)
    print(f'== {name}: folded {dict(folded)}; opset {OPSET}')
    ops = collections.Counter(node.op_type for node in model.graph.node)
    print('op types: ' + ', '.join(f'{op} {count}' for op, count in sorted(ops.items())))
    failures = compare(name, interpreter, session, frame)
    if failures:
        raise SystemExit(f'{name}: onnxruntime differs from LiteRT beyond {RTOL} × max |ref| '
                         f'+ {ATOL}:\n' + '\n'.join(failures))

    image = real_input(name, frame)
    in_name = session.get_inputs()[0].name
    latency = time_ms({'LiteRT': lambda: run_litert(interpreter, image),
                       'onnxruntime': lambda: session.run(None, {in_name: image})}, runs)
    print(f'latency, 1 thread, median (min) of {runs} calls: ' + ', '.join(
        f'{label} {median:.2f} ms ({least:.2f})' for label, (median, least) in latency.items()))

    target = output_dir / f'{name}.onnx'
    target.write_bytes(data)
    print(f'wrote {target}: {len(data)} bytes, sha256 {sha256(target)}')


def video_frame(path: Path, index: int) -> np.ndarray:
    """Return frame ``index`` of the video at ``path`` as [H, W, 3] uint8 RGB."""
    for number, frame in read_frames(path, max_frames=index + 1):
        if number == index:
            return frame
    raise ValueError(f'{path} has no frame {index}')


def main(argv: list | None = None) -> None:
    """Convert both models (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--tflite-dir', type=Path, default=ROOT / 'models' / 'blazepose')
    parser.add_argument('--output-dir', type=Path, default=ROOT / 'models' / 'blazepose')
    parser.add_argument('--video', type=Path, default=ROOT / 'samples' / 'room_walk.mp4')
    parser.add_argument('--frame', type=int, default=80, help='frame of --video to compare on')
    parser.add_argument('--runs', type=int, default=100, help='timed calls per runtime')
    args = parser.parse_args(argv)
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    print(f'onnx {onnx.__version__}, onnxruntime {ort.__version__}, '
          f'ai-edge-litert {metadata.version("ai-edge-litert")}, numpy {np.__version__}')
    frame = video_frame(args.video, args.frame)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for name in MODELS:
        process(name, args.tflite_dir, args.output_dir, frame, args.runs)


if __name__ == '__main__':
    main()
