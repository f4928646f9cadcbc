"""The command line's generated extras: completion scripts for bash, zsh and fish that know
every command."""
from conftest import run_npucc


def test_completion_scripts_name_every_command():
    for shell in ["bash", "zsh", "fish"]:
        r = run_npucc("--generate-completion-script", shell)
        assert r.returncode == 0, r.stderr
        for command in ["compile", "export", "run", "profile", "disasm", "asm", "inspect", "analyze", "target"]:
            assert command in r.stdout, (shell, command)
