"""Atari through ale-py 0.12 + gymnasium 1.x: the 57 `atari_*` env names and `make_atari_env`, which reproduces
the `*NoFrameskip-v4` behaviour (no sticky actions, minimal action set, frameskip done by our wrappers) followed by
the standard preprocessing stack (no-op reset, max-and-skip, episodic life, fire reset, reward clip, 84x84, stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from sample_factory.envs.env_utils import register_env
from sample_factory.envs.env_wrappers import (
    ClipRewardEnv,
    EpisodicLifeEnv,
    FireResetEnv,
    FrameStack,
    MaxAndSkipEnv,
    NoopResetEnv,
    ResizeGrayscaleWrapper,
    has_action,
)
from sample_factory.utils.typing import Config

ATARI_W = ATARI_H = 84
# `*NoFrameskip-v4` envs are truncated after 100k emulator frames (gym's TimeLimit on the frameskip=1 env).
DEFAULT_TIMEOUT_FRAMES = 100_000


@dataclass(frozen=True)
class AtariSpec:
    name: str  # our --env name, e.g. atari_pong
    game: str  # ALE game id, e.g. Pong (ale-py id "ALE/Pong-v5", EnvPool id "Pong-v5")
    timeout: int = DEFAULT_TIMEOUT_FRAMES  # in emulator frames

    @property
    def ale_id(self) -> str:
        return f"ALE/{self.game}-v5"

    @property
    def legacy_id(self) -> str:
        return f"{self.game}NoFrameskip-v4"


_GAMES = {
    "alien": "Alien",
    "amidar": "Amidar",
    "assault": "Assault",
    "asterix": "Asterix",
    "asteroid": "Asteroids",
    "atlantis": "Atlantis",
    "bankheist": "BankHeist",
    "battlezone": "BattleZone",
    "beamrider": "BeamRider",
    "berzerk": "Berzerk",
    "bowling": "Bowling",
    "boxing": "Boxing",
    "breakout": "Breakout",
    "centipede": "Centipede",
    "choppercommand": "ChopperCommand",
    "crazyclimber": "CrazyClimber",
    "defender": "Defender",
    "demonattack": "DemonAttack",
    "doubledunk": "DoubleDunk",
    "enduro": "Enduro",
    "fishingderby": "FishingDerby",
    "freeway": "Freeway",
    "frostbite": "Frostbite",
    "gopher": "Gopher",
    "gravitar": "Gravitar",
    "hero": "Hero",
    "icehockey": "IceHockey",
    "jamesbond": "Jamesbond",
    "kangaroo": "Kangaroo",
    "krull": "Krull",
    "kongfumaster": "KungFuMaster",
    "montezuma": "MontezumaRevenge",
    "mspacman": "MsPacman",
    "namethisgame": "NameThisGame",
    "phoenix": "Phoenix",
    "pitfall": "Pitfall",
    "pong": "Pong",
    "privateye": "PrivateEye",
    "qbert": "Qbert",
    "riverraid": "Riverraid",
    "roadrunner": "RoadRunner",
    "robotank": "Robotank",
    "seaquest": "Seaquest",
    "skiing": "Skiing",
    "solaris": "Solaris",
    "spaceinvaders": "SpaceInvaders",
    "stargunner": "StarGunner",
    "surround": "Surround",
    "tennis": "Tennis",
    "timepilot": "TimePilot",
    "tutankham": "Tutankham",
    "upndown": "UpNDown",
    "venture": "Venture",
    "videopinball": "VideoPinball",
    "wizardofwor": "WizardOfWor",
    "yarsrevenge": "YarsRevenge",
    "zaxxon": "Zaxxon",
}
_TIMEOUTS = {"montezuma": 18_000}

ATARI_ENVS: list[AtariSpec] = [
    AtariSpec(f"atari_{short}", game, _TIMEOUTS.get(short, DEFAULT_TIMEOUT_FRAMES)) for short, game in _GAMES.items()
]
_BY_NAME = {spec.name: spec for spec in ATARI_ENVS}


def atari_env_by_name(name: str) -> AtariSpec:
    if name not in _BY_NAME:
        raise ValueError(f"Unknown Atari env {name!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[name]


def register_ale_games() -> None:
    """ale-py 0.12 registers its `ALE/*` ids in gymnasium only when asked to."""
    import ale_py

    gym.register_envs(ale_py)


def env_seed_from_config(env_config: Any) -> int | None:
    """A distinct seed per env slot: `worker_index * 1000 + vector_index` (None for the temporary env-info env)."""
    if env_config is None:
        return None
    worker_index = int(env_config.get("worker_index", 0)) if isinstance(env_config, dict) else env_config.worker_index
    vector_index = int(env_config.get("vector_index", 0)) if isinstance(env_config, dict) else env_config.vector_index
    return worker_index * 1000 + vector_index


def _cfg_int(cfg: Config, name: str, default: int) -> int:
    value = getattr(cfg, name, None) if cfg is not None else None
    return default if value is None else int(value)


def make_atari_env(
    env_name: str, cfg: Config = None, env_config: Any = None, render_mode: str | None = None
) -> gym.Env:
    """An `atari_*` env: NoFrameskip-v4 semantics on ale-py 0.12 plus the standard wrapper stack.

    The emulator gives grayscale frames directly (ALE's own luminance conversion, faster than converting RGB in
    Python); `render()` still returns RGB frames. Observations are [framestack, 84, 84] uint8.
    """
    spec = atari_env_by_name(env_name)
    register_ale_games()
    frameskip = _cfg_int(cfg, "env_frameskip", 4)
    framestack = _cfg_int(cfg, "env_framestack", 4)

    env = gym.make(
        spec.ale_id,
        obs_type="grayscale",
        frameskip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        max_num_frames_per_episode=spec.timeout,
        render_mode=render_mode,
    )
    env = gym.wrappers.RecordEpisodeStatistics(env)
    env = NoopResetEnv(env, noop_max=30)
    env = MaxAndSkipEnv(env, skip=frameskip)
    env = EpisodicLifeEnv(env)
    if has_action(env, "FIRE"):
        env = FireResetEnv(env)
    env = ClipRewardEnv(env)
    env = ResizeGrayscaleWrapper(env, width=ATARI_W, height=ATARI_H)
    env = FrameStack(env, framestack)

    seed = env_seed_from_config(env_config)
    if seed is not None:
        env.reset(seed=seed)  # seeds the emulator and the no-op RNG; later resets continue this stream
        env.action_space.seed(seed)
    return env


def register_atari_envs() -> None:
    for spec in ATARI_ENVS:
        register_env(spec.name, make_atari_env)
