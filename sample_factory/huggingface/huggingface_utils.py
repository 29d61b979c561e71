"""Sharing experiments on the Hugging Face Hub (huggingface_hub >= 1.0): the model card, the files to upload, push
(`create_repo` + `upload_folder`) and download (`snapshot_download` into `<train_dir>/<repo name>`).

Network failures become one-line `HubError`s; a quick reachability probe makes an offline machine fail at once.
"""

from __future__ import annotations

import glob
import json
import os
import socket
import sys
from typing import Any
from urllib.parse import urlparse

from sample_factory.utils.typing import Config
from sample_factory.utils.utils import log

__all__ = [
    "HubError",
    "generate_model_card",
    "hub_files",
    "load_from_hf",
    "prepare_upload",
    "push_to_hf",
]

MODEL_CARD_TAGS = ["deep-reinforcement-learning", "reinforcement-learning", "sample-factory"]


class HubError(RuntimeError):
    """The Hub cannot be reached, or refused the request (message is one line)."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def _check_repo_id(repo_id: str) -> None:
    parts = (repo_id or "").split("/")
    if len(parts) != 2 or not all(parts):
        raise HubError(f"Hub repository must be <user>/<repo>, got {repo_id!r}")


def _hub():  # noqa: ANN202 - the huggingface_hub module
    try:
        import huggingface_hub
    except ImportError as exc:
        raise HubError("huggingface_hub is not installed: pip install 'sample-factory[hub]'") from exc
    return huggingface_hub


def _endpoint() -> str:
    try:
        from huggingface_hub import constants

        return str(constants.ENDPOINT)
    except ImportError:
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def _check_reachable(endpoint: str, timeout: float = 3.0) -> None:
    """Fail fast (instead of the Hub client's retries) when the endpoint's host cannot be connected to.

    Skipped behind a proxy, where only the proxy knows whether the Hub is reachable.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return
    url = urlparse(endpoint)
    host = url.hostname or endpoint
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise HubError(
            f"Cannot reach the Hugging Face Hub at {endpoint} ({_one_line(exc)}): check the network connection "
            "(or HF_ENDPOINT)"
        ) from exc


# ---------------------------------------------------------------- what is uploaded


def hub_files(exp_dir: str, video_name: str | None = None) -> list[str]:
    """Relative paths to upload: config.json, sf_log.txt, README.md, the video, and per policy the latest
    `checkpoint_*` and `best_*` files (older checkpoints, summaries and eval CSVs stay local)."""
    files = []
    video = video_name or "replay.mp4"
    if not video.endswith(".mp4"):
        video += ".mp4"
    for name in ("config.json", "sf_log.txt", "README.md", video):
        if os.path.isfile(os.path.join(exp_dir, name)):
            files.append(name)
    for policy_dir in sorted(glob.glob(os.path.join(glob.escape(exp_dir), "checkpoint_p*"))):
        for prefix in ("checkpoint", "best"):
            found = sorted(glob.glob(os.path.join(glob.escape(policy_dir), f"{prefix}_*.pth")))
            if found:
                files.append(os.path.relpath(found[-1], exp_dir))
    return [f.replace(os.sep, "/") for f in files]


def _main_module() -> str | None:
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return getattr(spec, "name", None)


def _scripts(cfg: Config | dict, train_script: str | None, enjoy_script: str | None) -> tuple[str, str]:
    get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
    enjoy_script = enjoy_script or get("enjoy_script")
    train_script = train_script or get("train_script")
    main = _main_module() or ""
    if not enjoy_script and ".enjoy_" in f".{main.rsplit('.', 1)[-1]}":
        enjoy_script = main
    if not train_script and enjoy_script and "enjoy_" in enjoy_script:
        train_script = enjoy_script.replace("enjoy_", "train_")
    if not enjoy_script and train_script and "train_" in train_script:
        enjoy_script = train_script.replace("train_", "enjoy_")
    return train_script or "<path.to.training.module>", enjoy_script or "<path.to.enjoy.module>"


def generate_model_card(
    exp_dir: str,
    repo_id: str,
    cfg: Config | dict | None = None,
    mean_reward: float | None = None,
    std_reward: float | None = None,
    train_script: str | None = None,
    enjoy_script: str | None = None,
) -> str:
    """README.md text: YAML metadata (library_name sample-factory, tags, env, mean/std reward) and usage commands."""
    if cfg is None:
        with open(os.path.join(exp_dir, "config.json")) as f:
            cfg = json.load(f)
    get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
    env = str(get("env", "unknown-env"))
    algo = str(get("algo", "APPO"))
    repo_name = repo_id.split("/")[-1]
    train_script, enjoy_script = _scripts(cfg, train_script, enjoy_script)
    has_result = mean_reward is not None and std_reward is not None and mean_reward == mean_reward  # not NaN

    meta = ["---", "library_name: sample-factory", "tags:"] + [f"- {t}" for t in MODEL_CARD_TAGS]
    if has_result:
        meta += [
            "model-index:",
            f"- name: {algo}",
            "  results:",
            "  - task:",
            "      type: reinforcement-learning",
            "      name: reinforcement-learning",
            "    dataset:",
            f"      name: {env}",
            f"      type: {env}",
            "    metrics:",
            "    - type: mean_reward",
            f"      value: {mean_reward:.2f} +/- {std_reward:.2f}",
            "      name: mean_reward",
            "      verified: false",
        ]
    meta.append("---")
    result_line = (
        f"Mean reward {mean_reward:.2f} +/- {std_reward:.2f} (evaluated with `{enjoy_script}`)."
        if has_result
        else "Not evaluated yet: run the evaluation command below with `--push_to_hub` to add results."
    )
    env_steps = get("train_for_env_steps", None)
    body = f"""
# {algo} model on {env}

An **{algo}** model trained on the **{env}** environment with Sample Factory
(asynchronous PPO, https://github.com/alex-petrenko/sample-factory). {result_line}

## Downloading the model

```
python -m sample_factory.huggingface.load_from_hub -r {repo_id} -d ./train_dir
```

## Evaluating the model

```
python -m {enjoy_script} --algo={algo} --env={env} --train_dir=./train_dir --experiment={repo_name} --no_render --max_num_episodes=10
```

Add `--save_video` to record `./train_dir/{repo_name}/replay.mp4` instead.

## Continuing the training

```
python -m {train_script} --algo={algo} --env={env} --train_dir=./train_dir --experiment={repo_name} --restart_behavior=resume --train_for_env_steps={int(env_steps) * 2 if env_steps else 10000000}
```

The experiment's `config.json` holds every parameter it was trained with; values given on the command line win.
"""
    return "\n".join(meta) + "\n" + body


def prepare_upload(
    exp_dir: str,
    repo_id: str,
    cfg: Config | dict | None = None,
    mean_reward: float | None = None,
    std_reward: float | None = None,
    train_script: str | None = None,
    enjoy_script: str | None = None,
) -> list[str]:
    """Write README.md (the model card) into the experiment folder; return the relative paths to upload."""
    _check_repo_id(repo_id)
    if not os.path.isfile(os.path.join(exp_dir, "config.json")):
        raise HubError(f"{exp_dir} is not an experiment folder (no config.json)")
    card = generate_model_card(exp_dir, repo_id, cfg, mean_reward, std_reward, train_script, enjoy_script)
    with open(os.path.join(exp_dir, "README.md"), "w") as f:
        f.write(card)
    video_name = None
    if cfg is not None:
        video_name = cfg.get("video_name") if isinstance(cfg, dict) else getattr(cfg, "video_name", None)
    files = hub_files(exp_dir, video_name)
    if not any(f.startswith("checkpoint_p") for f in files):
        log.warning("%s has no checkpoint: the Hub repository will hold no model", exp_dir)
    return files


def push_to_hf(
    dir_path: str,
    repo_name: str,
    cfg: Config | dict | None = None,
    result: Any = None,
    mean_reward: float | None = None,
    std_reward: float | None = None,
    train_script: str | None = None,
    enjoy_script: str | None = None,
    private: bool = False,
) -> str:
    """Create (if needed) the Hub repository `repo_name` and upload the experiment folder's shareable files.

    `result` (an `EnjoyResult`) supplies mean/std reward when given. Returns the repository URL.
    """
    if result is not None:
        mean_reward, std_reward = result.mean_reward, result.std_reward
    files = prepare_upload(dir_path, repo_name, cfg, mean_reward, std_reward, train_script, enjoy_script)
    hub = _hub()
    endpoint = _endpoint()
    _check_reachable(endpoint)
    api = hub.HfApi()
    try:
        url = api.create_repo(repo_name, private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_name,
            folder_path=dir_path,
            allow_patterns=files,
            delete_patterns=["checkpoint_p*/checkpoint_*.pth", "checkpoint_p*/best_*.pth"],
            commit_message="Upload Sample Factory experiment",
        )
    except Exception as exc:  # noqa: BLE001 - any client error becomes one line
        raise HubError(f"Pushing {dir_path} to the Hub repository {repo_name} failed ({_one_line(exc)})") from exc
    log.info("Pushed %d files to %s", len(files), url)
    return str(url)


def load_from_hf(dir_path: str, repo_id: str) -> str:
    """Download the Hub repository `repo_id` into `<dir_path>/<repo name>` (an experiment folder); return its path."""
    _check_repo_id(repo_id)
    hub = _hub()
    if not os.environ.get("HF_HUB_OFFLINE"):
        _check_reachable(_endpoint())
    local_dir = os.path.join(dir_path, repo_id.split("/")[-1])
    try:
        path = hub.snapshot_download(repo_id=repo_id, local_dir=local_dir, library_name="sample-factory")
    except Exception as exc:  # noqa: BLE001 - any client error becomes one line
        raise HubError(f"Downloading {repo_id} from the Hub failed ({_one_line(exc)})") from exc
    log.info("Downloaded %s into %s", repo_id, path)
    return str(path)
