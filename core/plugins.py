"""The plugin manager: built-in domains by module name, third-party ones from entry points.

Environment:
    RNNSUITE_DISABLE_PLUGIN_AUTOLOAD=1   load no entry-point (third-party) plugins.
    RNNSUITE_PLUGINS=nlp,digits          load only these plugins (built-in or third-party).

A plugin that fails to import, register or run a registration hook is recorded with its error
(`rnnsuite plugins` shows it) and never breaks the other commands.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points, version

import pluggy
from rnnsuite.core import hookspecs
from rnnsuite.core.domain import Domain

__all__ = ["DEFAULT_PLUGINS", "PluginInfo", "get_plugin_manager", "get_domains", "plugin_infos",
           "call_hook"]

DEFAULT_PLUGINS = (
    "rnnsuite.plugins.nlp",
    "rnnsuite.plugins.speech",
    "rnnsuite.plugins.forecast",
    "rnnsuite.plugins.music",
)


# What a broken plugin may raise without taking the CLI down: any error, and sys.exit() too
# (KeyboardInterrupt still stops the program).
PLUGIN_ERRORS = (Exception, SystemExit)


@dataclass
class PluginInfo:
    name: str
    version: str
    source: str  # "builtin" or "entrypoint"
    status: str = "ok"  # "ok", or "error: ..."
    hooks: list = field(default_factory=list)
    domains: list = field(default_factory=list)
    cells: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class RnnsuitePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers what each plugin is and whether it loaded, and holds
    every registry plugins fill (domains, cells): a fresh manager is a fresh world."""

    def __init__(self):
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.domains: dict[str, Domain] | None = None     # filled on first use (get_domains)
        self.cells: dict[str, tuple] | None = None        # name -> (cell class, source) (cells)

    def info_for(self, plugin) -> PluginInfo | None:
        name = self.get_name(plugin)
        return self.infos.get(name)


def _allowed(name: str) -> bool:
    allow = os.environ.get("RNNSUITE_PLUGINS", "").strip()
    if not allow:
        return True
    return name in {n.strip() for n in allow.split(",") if n.strip()}


def _short_error(exc: BaseException) -> str:
    return f"error: {type(exc).__name__}: {' '.join(str(exc).split())}"


def get_plugin_manager(load_builtins: bool = True, load_entrypoints: bool | None = None) -> RnnsuitePluginManager:
    """A fresh plugin manager with hookspecs, built-in plugins and entry-point plugins."""
    pm = RnnsuitePluginManager()
    rnnsuite_version = _dist_version("rnnsuite")
    if load_builtins:
        for module_name in DEFAULT_PLUGINS:
            short = module_name.rsplit(".", 1)[1]
            if not _allowed(short):
                continue
            info = PluginInfo(short, rnnsuite_version, "builtin")
            pm.infos[short] = info
            try:
                module = importlib.import_module(module_name)
                pm.register(module, name=short)
            except PLUGIN_ERRORS as exc:  # a broken plugin is reported, never fatal
                info.status = _short_error(exc)
    if load_entrypoints is None:
        load_entrypoints = os.environ.get("RNNSUITE_DISABLE_PLUGIN_AUTOLOAD", "") not in ("1", "true", "yes")
    if load_entrypoints:
        for ep in entry_points(group=hookspecs.PROJECT):
            if not _allowed(ep.name) or ep.name in pm.infos:
                continue
            dist = ep.dist.name if ep.dist else ep.value
            info = PluginInfo(ep.name, ep.dist.version if ep.dist else "", f"entrypoint ({dist})")
            pm.infos[ep.name] = info
            try:
                pm.register(ep.load(), name=ep.name)
            except PLUGIN_ERRORS as exc:
                info.status = _short_error(exc)
    for name, info in pm.infos.items():
        plugin = pm.get_plugin(name)
        if plugin is not None:
            info.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
    return pm


def _dist_version(name: str) -> str:
    try:
        return version(name)
    except Exception:
        return "unknown"


def call_hook(pm: RnnsuitePluginManager, hook_name: str, args_for) -> None:
    """Call every implementation of `hook_name` on its own, passing it only the arguments it
    names, from `args_for(plugin_name) -> {argument: value}` (so hooks may gain arguments later
    without breaking old plugins). A failing implementation is recorded against its plugin and
    the others still run; KeyboardInterrupt is not contained."""
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        info = pm.infos.get(impl.plugin_name)
        try:
            available = args_for(impl.plugin_name)
            unknown = [a for a in impl.argnames if a not in available]
            if unknown:
                raise TypeError(f"{hook_name}() has no argument {', '.join(map(repr, unknown))}")
            impl.function(**{a: available[a] for a in impl.argnames})
        except PLUGIN_ERRORS as exc:
            if info is not None:
                info.status = _short_error(exc)


_default_manager: RnnsuitePluginManager | None = None


def default_manager() -> RnnsuitePluginManager:
    """The process-wide manager the CLI uses (built on first use)."""
    global _default_manager
    if _default_manager is None:
        _default_manager = get_plugin_manager()
    return _default_manager


def reset_default_manager() -> None:
    """Forget the process-wide manager with its domains and cells (tests use it after changing
    env vars)."""
    global _default_manager
    _default_manager = None


def get_domains(pm: RnnsuitePluginManager | None = None) -> dict[str, Domain]:
    """Registered domains by name. Duplicates and non-Domain objects are errors of their plugin."""
    pm = pm or default_manager()
    if pm.domains is not None:
        return pm.domains
    domains: dict[str, Domain] = {}

    def register_for(plugin: str):
        def register(domain):
            if not isinstance(domain, Domain):
                raise TypeError(f"register() takes a rnnsuite.core.Domain, not {type(domain).__name__}")
            if not domain.name:
                raise ValueError(f"{type(domain).__name__} has no name")
            if domain.name in domains:
                raise ValueError(f"domain {domain.name!r} is already registered")
            domain.plugin = plugin
            domains[domain.name] = domain
            if plugin in pm.infos:
                pm.infos[plugin].domains.append(domain.name)
        return register

    call_hook(pm, "rnnsuite_register_domains", lambda plugin: {"register": register_for(plugin)})
    pm.domains = domains
    return domains


def domain_named(domain) -> Domain:
    """`domain` itself, or the registered domain of that name (a UserError naming the installed
    ones when there is none)."""
    if not isinstance(domain, str):
        return domain
    domains = get_domains()
    if domain not in domains:
        from rnnsuite.core.errors import UserError

        raise UserError(f"unknown domain {domain!r}; installed: {', '.join(sorted(domains))}")
    return domains[domain]


def plugin_infos(pm: RnnsuitePluginManager | None = None) -> list[PluginInfo]:
    """What `rnnsuite plugins` shows: every plugin tried, with its status and domains."""
    pm = pm or default_manager()
    get_domains(pm)
    for info in pm.infos.values():
        if info.status == "ok" and info.source == "builtin" and not info.domains and not info.cells:
            info.status = "not yet implemented"
    return list(pm.infos.values())
