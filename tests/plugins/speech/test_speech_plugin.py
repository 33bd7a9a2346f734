import subprocess
import sys


def test_plugin_import_is_light():
    code = ("import sys, rnnsuite.plugins.speech, rnnsuite.plugins.speech.domain as d; "
            "d.SpeechDomain().config_defaults(); "
            "print(sorted(m for m in ('torch', 'torchaudio', 'librosa', 'numpy', 'soundfile') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_domain_is_registered():
    from rnnsuite.core.plugins import get_domains, get_plugin_manager

    domains = get_domains(get_plugin_manager())
    assert "speech" in domains
    assert domains["speech"].name == "speech"
