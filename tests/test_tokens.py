import numpy as np
import pytest

from tis_transformer.predictor.tokens import InvalidSequenceError, decode, encode


def test_encode_follows_the_original_token_map():
    assert encode("ATCGN").tolist() == [0, 1, 2, 3, 4]


def test_rna_lowercase_and_ambiguity_codes():
    assert encode("acgu").tolist() == [0, 2, 3, 1]
    assert encode("RYKMSWBDHVn").tolist() == [4] * 11


def test_invalid_character_names_record_and_position():
    with pytest.raises(InvalidSequenceError, match=r"tx1: invalid nucleotide '-' at position 3"):
        encode("AC-GT", "tx1")


def test_non_ascii_is_rejected_at_its_position():
    with pytest.raises(InvalidSequenceError, match="position 2"):
        encode("Aé")


def test_decode_round_trip():
    assert decode(encode("GATTACAN")) == "GATTACAN"
    assert decode(np.array([], dtype=np.uint8)) == ""
