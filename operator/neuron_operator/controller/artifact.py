"""Telling the model server which compiled artifact to load and its shapes, in the forms the
common Neuron servers read. Pure; applied only when spec.compiled is set (a server compiling at
start has nothing to be told, and existing Deployments are not rolled for it).

- vLLM on Neuron (NxD Inference): NEURON_COMPILED_ARTIFACTS, the artifact's path ("When pointed
  to a path that contains a pre-compiled model, we load the pre-compiled model directly", NxDI
  vLLM user guide); and its flags --tensor-parallel-size, --pipeline-parallel-size (a
  replica across nodes), --max-num-seqs, --max-model-len, whose values are set to the plan's
  where the template's args give the flag;
- optimum-neuron's TGI entrypoint: MAX_BATCH_SIZE, MAX_TOTAL_TOKENS, HF_NUM_CORES and
  HF_AUTO_CAST_TYPE (its env_config_peering: batch_size, sequence_length, num_cores,
  auto_cast_type of the exported model).
"""

from __future__ import annotations

from typing import Any

from neuron_operator.api.status import CompiledShape
from neuron_operator.api.v1alpha1 import DType, NeuronDeploymentSpec
from neuron_operator.controller.render import merge_env

AUTO_CAST = {DType.BF16: "bf16", DType.FP16: "fp16"}


def artifact_env(spec: NeuronDeploymentSpec, shape: CompiledShape) -> list[dict[str, str]]:
    compiled = spec.compiled
    env: list[dict[str, str]] = []
    if compiled is not None and compiled.uri:
        env.append({"name": "NEURON_COMPILED_ARTIFACTS", "value": compiled.uri})
    if shape.batch_size is not None:
        env.append({"name": "MAX_BATCH_SIZE", "value": str(shape.batch_size)})
    if shape.sequence_length is not None:
        env.append({"name": "MAX_TOTAL_TOKENS", "value": str(shape.sequence_length)})
    if shape.tensor_parallel_degree is not None:  # cores one copy spans (on each node)
        env.append({"name": "HF_NUM_CORES", "value": str(shape.tensor_parallel_degree)})
    cast = AUTO_CAST.get(spec.model.dtype)
    if cast is not None:
        env.append({"name": "HF_AUTO_CAST_TYPE", "value": cast})
    return env


def _flags(shape: CompiledShape) -> dict[str, int | None]:
    return {
        "--tensor-parallel-size": shape.tensor_parallel_degree,
        "--pipeline-parallel-size": shape.pipeline_parallel_size,
        "--max-num-seqs": shape.batch_size,
        "--max-model-len": shape.sequence_length,
    }


def with_shape_args(args: list[str], shape: CompiledShape) -> list[str]:
    """`args` with the value of each vLLM shape flag they give set to the plan's ("--flag=v"
    or "--flag v"); flags they do not give are not added."""
    flags = {k: v for k, v in _flags(shape).items() if v is not None}
    out: list[str] = []
    skip = False
    for index, arg in enumerate(args):
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in flags and "=" in arg:
            out.append(f"{name}={flags[name]}")
        elif arg in flags and index + 1 < len(args):
            out += [arg, str(flags[arg])]
            skip = True
        else:
            out.append(arg)
    return out


def tell_the_server(
    container: dict[str, Any], spec: NeuronDeploymentSpec, shape: CompiledShape
) -> None:
    """The model server container, told the artifact and its shapes (in place)."""
    container["env"] = merge_env(container.get("env") or [], artifact_env(spec, shape))
    if container.get("args"):
        container["args"] = with_shape_args([str(a) for a in container["args"]], shape)
