"""``lit-gan evaluate --checkpoint`` builds the generator from the checkpoint's hyperparameters: a crafted
one that names a module, in any YAML form a string can carry, is refused before that module is imported."""

import sys

import pytest
import torch

from lit_gan.evaluate import main as evaluate
from tests.metrics.test_torch_fidelity_protocol import write_folder
from tests.test_checkpoints import YAML_FORMS


@pytest.mark.parametrize("form", YAML_FORMS)
def test_a_module_named_in_any_yaml_form_is_never_imported(form, tmp_path, inception_weights, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "strange_mod.py").write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\ndef f(*a): pass\n")
    hparams = {"_class_path": "lit_gan.GAN", "critic": YAML_FORMS[form]}
    torch.save({"state_dict": {}, "hyper_parameters": hparams}, tmp_path / "foreign.ckpt")
    real = write_folder(tmp_path / "real", 4, 0)
    with pytest.raises(SystemExit) as info:
        evaluate(["--checkpoint", str(tmp_path / "foreign.ckpt"), "--real", str(real), "--feature_extractor",
                  "lit_gan.metrics.InceptionFeatures", "--feature_extractor.weights_path", str(inception_weights)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert info.value.code == 2 and len(err) == 1 and "name 'strange_mod.f', outside lit_gan" in err[0], err
    assert not (tmp_path / "imported").exists() and "strange_mod" not in sys.modules
