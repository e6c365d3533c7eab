"""Which models a visitor of the web app may pick.

    offered = OfferedModels.decide(server_model="bundled", listed=None, free=None,
                                   host="0.0.0.0", share=False, space=True)
    offered.names           # ("bundled",): the dropdown's choices
    offered.free            # False: no other name is accepted
    offered.check("/etc")   # raises ModelNotOffered, before anything is loaded or looked up

A public server trusts no visitor: a free model field would let anyone make it download
any model (disk, memory), replace the model everyone shares, or probe which local folders
exist from the different error messages. So when others can reach the page (a Hugging Face
Space, a share link, a non-loopback address), visitors pick from the operator's list only.
A local `python app.py` on 127.0.0.1 keeps free choice unless a list is given; an explicit
operator flag decides either way. The command line, used by its own operator, is not
concerned.

What it does not do: no loading (pipeline.model), no Gradio.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

MODELS_ENV = "PDF_CLEANER_MODELS"  # comma-separated list of offered models
FREE_ENV = "PDF_CLEANER_FREE_MODEL_CHOICE"  # "1" / "0": free choice on or off
BUNDLED = "bundled"


class ModelNotOffered(ValueError):
    """A visitor asked for a model the operator does not offer."""


class CannotOffer(ValueError):
    """The operator asked to offer models this server cannot run (said at start-up)."""


@dataclass(frozen=True)
class OfferedModels:
    names: tuple[str, ...]  # in the dropdown's order, the server's model first
    free: bool  # any Hub id or local folder is accepted too

    @staticmethod
    def decide(server_model: str | None, listed: list[str] | None, free: bool | None,
               host: str, share: bool, space: bool, with_bundled: bool = True,
               preloaded_only: bool = False) -> "OfferedModels":
        """The operator's list (or the server's model and `bundled`) and whether free choice
        is on: `free` when given, else on only for a page nobody else can reach and no list.
        `with_bundled=False`: a served model's server has no `bundled` to offer.
        `preloaded_only` (ZeroGPU): only the server's model, the one loaded at start-up, can
        reach the GPU; a list naming others, or free choice asked for, is CannotOffer."""
        names = [n.strip() for n in (listed or []) if n and n.strip()]
        if preloaded_only:
            others = [n for n in names if n != server_model]
            if others or free:
                asked = f"--models naming {', '.join(others)}" if others else "--free-model-choice"
                raise CannotOffer(
                    f"On ZeroGPU only the model loaded at start-up ({server_model or 'none'}) can run: a model "
                    f"reaches the GPU only when it is loaded before the page starts. Drop {asked} "
                    "(and its environment variable), or choose the model with --model.")
            return OfferedModels((server_model,) if server_model else (), False)
        if not names:
            names = [server_model] if server_model else []
            if with_bundled or not names:
                names.append(BUNDLED)
        elif server_model and server_model not in names:
            names.insert(0, server_model)  # the model the server preloads is always offered
        if free is None:
            free = not (space or share or not is_loopback(host)) and not listed
        return OfferedModels(tuple(dict.fromkeys(names)), free)

    @staticmethod
    def from_environment(server_model: str | None, listed: list[str] | None, free: bool | None,
                         host: str, share: bool, with_bundled: bool = True,
                         preloaded_only: bool = False) -> "OfferedModels":
        """decide() with the environment's list, switch and Space filled in where not given."""
        if listed is None and os.environ.get(MODELS_ENV, "").strip():
            listed = os.environ[MODELS_ENV].split(",")
        if free is None and os.environ.get(FREE_ENV, "").strip():
            free = os.environ[FREE_ENV].strip().lower() in ("1", "true", "yes", "on")
        space = bool(os.environ.get("SPACE_ID"))
        return OfferedModels.decide(server_model, listed, free, host, share, space, with_bundled, preloaded_only)

    def check(self, name: str) -> str:
        """`name` when a visitor may use it; else ModelNotOffered, whose message is the same
        for every name that is not offered (it never says whether a path exists)."""
        if self.free or name in self.names:
            return name
        if not self.names:
            raise ModelNotOffered("No model runs on this server: tick 'rules only' in the settings.")
        raise ModelNotOffered(
            f"That model is not offered on this server. Pick one of: {', '.join(self.names)}."
        )


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost: assume others can reach it
