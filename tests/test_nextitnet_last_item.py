"""NextItNetLastItem: RecBole's NextItNet read at each sequence's last item, not its last column."""
from __future__ import annotations

import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.model.sequential_recommender.nextitnet import NextItNet

from recbole_csrec import CSRecError, run_recbole_csrec
from recbole_csrec.config import CSRecConfig
from recbole_csrec.model import NextItNetLastItem
from recbole_csrec.lookups import get_model
from tests.conftest import TINY_NAME, fast_config


def _models(tiny_data):
    config = CSRecConfig(model="NextItNetLastItem", dataset=TINY_NAME,
                         config_dict=fast_config(tiny_data, block_num=2, teacher="none"))
    train_data, _, _ = data_preparation(config, create_dataset(config))
    torch.manual_seed(0)
    ours = NextItNetLastItem(config, train_data._dataset).eval()
    recbole = NextItNet(config, train_data._dataset).eval()
    recbole.load_state_dict(ours.state_dict())  # the same weights: only the readout differs
    return ours, recbole, config["MAX_ITEM_LIST_LENGTH"], train_data._dataset.item_num


def test_reads_the_last_item_of_right_padded_sequences(tiny_data):
    ours, recbole, max_len, item_num = _models(tiny_data)
    generator = torch.Generator().manual_seed(1)
    lengths = torch.arange(1, max_len + 1)
    items = torch.randint(1, item_num, (len(lengths), max_len), generator=generator)
    padded = items.masked_fill(torch.arange(max_len)[None, :] >= lengths[:, None], 0)  # RecBole's layout
    with torch.no_grad():
        got = ours(padded)
        for row, n in enumerate(lengths.tolist()):
            # The causal convolutions make position n-1 depend on the first n items only, so
            # RecBole's last-column readout of the unpadded prefix is the expected output.
            assert torch.allclose(got[row], recbole(items[row:row + 1, :n])[0], atol=1e-5), n
        # Full-length rows read the last column, as RecBole does; shorter ones do not.
        assert torch.allclose(got[-1], recbole(padded)[-1], atol=1e-5)
        assert not torch.allclose(got[0], recbole(padded)[0], atol=1e-3)


def test_config_gets_nextitnets_defaults_and_preset(tiny_data):
    ours = CSRecConfig(model="NextItNetLastItem", dataset=TINY_NAME,
                       config_dict={"data_path": tiny_data, "teacher": "none", "preset": "paper"})
    theirs = CSRecConfig(model="NextItNet", dataset=TINY_NAME,
                         config_dict={"data_path": tiny_data, "teacher": "none", "preset": "paper"})
    for key in ("embedding_size", "block_num", "dilations", "kernel_size", "reg_weight", "loss_type"):
        assert ours[key] == theirs[key], key
    assert ours["dilations"] == [1]  # the paper preset's NextItNet file
    assert ours["model"] == "NextItNetLastItem" and get_model(ours["model"]) is NextItNetLastItem
    assert get_model(theirs["model"]) is NextItNet  # --model=NextItNet stays RecBole's own


def test_trains_as_student_and_teacher(tiny_data):
    result = run_recbole_csrec(model="NextItNetLastItem", dataset=TINY_NAME, teacher="model",
                               config_dict=fast_config(tiny_data, num_teachers=1))
    assert [phase["model"] for phase in result["phases"].values()] == ["NextItNetLastItem"] * 2
    assert "ndcg@10" in result["test_result"]


def test_unknown_model_lists_it():
    with pytest.raises(CSRecError, match="accepted are .*NextItNetLastItem"):
        CSRecConfig(model="NextItNetLast", dataset=TINY_NAME, config_dict={"teacher": "none"})


def test_report_compares_it_with_the_papers_nextitnet():
    from run_scripts.reproduce.results_page import paper_table

    paper = paper_table().set_index(["model", "dataset", "method", "metric"])["mean"]
    for dataset in ("lastfm", "yelp"):
        assert paper[("NextItNetLastItem", dataset, "CSRec-M", "recall@10")] == \
            paper[("NextItNet", dataset, "CSRec-M", "recall@10")]
    assert paper.loc["NextItNetLastItem"].equals(paper.loc["NextItNet"])
