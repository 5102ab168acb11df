import builtins
import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from tis_transformer.predictor.tokens import encode
from tis_transformer.predictor.read import InputError, load_npy, read_records

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
CHR_Y = SHARED / "GRCh38p13" / "chrY.npy.gz"
# copies of ../shared/data's example and the original tool's results on it, kept in the repository
SEED_RESULTS = Path(__file__).parent / "data" / "seed_results_example.npy"
EXAMPLE_FA = Path(__file__).parents[1] / "examples" / "example.fa"


def records(source):
    return [(name, tokens.tolist()) for name, tokens in read_records(str(source))]


def write(path, text):
    path.write_text(text)
    return path


def save_objects(path, rows):
    """Save rows as an object array the way the original tool does."""
    table = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            table[i, j] = value
    np.save(path, table, allow_pickle=True)
    return path


# ------------------------------------------------------------------ literals


def test_literal_dna_and_rna_in_any_case():
    assert records("acgT") == [("sequence", [0, 2, 3, 1])]
    assert records("AcGu") == [("sequence", [0, 2, 3, 1])]


def test_literal_n_is_read():
    assert records("ANNu") == [("sequence", [0, 4, 4, 1])]


@pytest.mark.parametrize("source", ["BRCA", "ARYN", "GATA3"])
def test_missing_file_named_with_iupac_letters_is_not_a_sequence(source):
    # other ambiguity codes are read from FASTA files, not from the command line, where they are typos
    with pytest.raises(InputError, match=f"'{source}': no such file, and not a nucleotide sequence"):
        list(read_records(source))


def test_long_literal_sequence_is_no_file_name_error():
    sequence = "ACGT" * 100  # longer than a file name may be
    assert records(sequence) == [("sequence", list(encode(sequence)))]


def test_literal_tokens_are_uint8():
    (_, tokens), = read_records("ACGT")
    assert tokens.dtype == np.uint8


@pytest.mark.parametrize("source", ["no/such/file.fa", "ACGTX", "AC-GT", ""])
def test_missing_file_that_is_not_a_sequence(source):
    with pytest.raises(InputError, match="no such file,? (and|or) not a nucleotide sequence"):
        list(read_records(source))


def test_literal_error_names_the_bad_character():
    with pytest.raises(InputError, match=r"character 'X' at position 5"):
        list(read_records("ACGTX"))


# --------------------------------------------------------------------- FASTA


def test_fasta_multiline_and_first_word_id(tmp_path):
    fasta = write(tmp_path / "t.fa", ">tx1 some description\nAC\nGT\n\n>tx2\nuuNN\n")
    assert records(fasta) == [("tx1", [0, 2, 3, 1]), ("tx2", [1, 1, 4, 4])]


def test_fasta_gzipped(tmp_path):
    path = tmp_path / "t.fasta.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">a\nACGT\n")
    assert records(path) == [("a", [0, 2, 3, 1])]


def test_fasta_truncated_gzip(tmp_path):
    path = tmp_path / "t.fa.gz"
    path.write_bytes(gzip.compress(b">a\n" + b"ACGT" * 1000)[:-20])
    with pytest.raises(InputError, match=r"t.fa.gz: cannot read"):
        list(read_records(str(path)))


def test_gz_suffix_on_plain_text(tmp_path):
    path = write(tmp_path / "t.fa.gz", ">a\nACGT\n")
    with pytest.raises(InputError, match="not a gzip file"):
        list(read_records(str(path)))


def test_fasta_crlf_and_leading_blank_lines(tmp_path):
    path = tmp_path / "t.fa"
    path.write_bytes(b"\r\n\r\n>a\r\nAC\r\nGT\r\n")
    assert records(path) == [("a", [0, 2, 3, 1])]


def test_unknown_suffix_is_sniffed(tmp_path):
    assert records(write(tmp_path / "t.seqs", "\n>a\nACGT\n")) == [("a", [0, 2, 3, 1])]


def test_unknown_suffix_that_is_not_fasta(tmp_path):
    path = write(tmp_path / "notes.txt", "hello\n>a\nACGT\n")
    with pytest.raises(InputError, match=r"notes.txt: not a FASTA file: line 1"):
        list(read_records(str(path)))


def test_text_before_first_header(tmp_path):
    path = write(tmp_path / "t.fa", "\nACGT\n>a\nACGT\n")
    with pytest.raises(InputError, match=r"not a FASTA file: line 2 starts with 'ACGT'"):
        list(read_records(str(path)))


def test_binary_file(tmp_path):
    path = tmp_path / "t.fa"
    path.write_bytes(b">a\nAC\xff\xfe\x00GT\n")
    with pytest.raises(InputError, match="not a FASTA file"):
        list(read_records(str(path)))


@pytest.mark.parametrize("name", ["chr1.npz", "chr1.data"])
def test_a_prepared_dataset_is_named_for_what_it_is(tmp_path, name):
    path = tmp_path / name
    with open(path, "wb") as handle:  # prepare's output is a numpy .npz: a zip archive
        np.savez(handle, tokens=np.zeros(3, np.uint8))
    with pytest.raises(InputError, match="a prepared training dataset or other zip archive"):
        list(read_records(str(path)))


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_empty_input(tmp_path, text):
    path = write(tmp_path / "t.fa", text)
    with pytest.raises(InputError, match=r"t.fa: no records \(empty input\)"):
        list(read_records(str(path)))


def test_invalid_character_names_record_and_position(tmp_path):
    path = write(tmp_path / "t.fa", ">a\nACGT\n>b second\nACG\nTXAA\n")
    with pytest.raises(InputError) as caught:
        list(read_records(str(path)))
    assert str(caught.value) == f"{path}: record 'b': invalid nucleotide 'X' at position 5"


@pytest.mark.parametrize("gap", ["-", "*", "."])
def test_gaps_are_invalid(tmp_path, gap):
    path = write(tmp_path / "t.fa", f">a\nAC{gap}GT\n")
    with pytest.raises(InputError, match=r"record 'a': invalid nucleotide .* at position 3"):
        list(read_records(str(path)))


def test_empty_record(tmp_path):
    path = write(tmp_path / "t.fa", ">a\nACGT\n>b\n>c\nAC\n")
    with pytest.raises(InputError, match=r"record 'b': empty sequence"):
        list(read_records(str(path)))


def test_empty_header(tmp_path):
    path = write(tmp_path / "t.fa", ">a\nACGT\n>\nAC\n")
    with pytest.raises(InputError, match=r"record #2 has an empty header"):
        list(read_records(str(path)))


def test_duplicate_ids(tmp_path):
    path = write(tmp_path / "t.fa", ">a\nACGT\n>a other\nAC\n")
    with pytest.raises(InputError, match=r"record 'a': duplicate id"):
        list(read_records(str(path)))


def test_records_stream(tmp_path):
    # The good record comes out before the bad one is reached.
    path = write(tmp_path / "t.fa", ">a\nACGT\n>b\nAXGT\n")
    stream = read_records(str(path))
    assert next(stream)[0] == "a"
    with pytest.raises(InputError):
        next(stream)


def test_error_messages_are_one_line(tmp_path):
    path = write(tmp_path / "t.fa", ">a\nAC\nGT\n>b\nA\nC-\n")
    with pytest.raises(InputError) as caught:
        list(read_records(str(path)))
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not EXAMPLE_FA.exists(), reason="shared example data absent")
def test_shared_example_fasta():
    found = list(read_records(str(EXAMPLE_FA)))
    assert [name for name, _ in found][:2] == ["ENST00000410304", "ENST00000506552"]
    assert all(tokens.dtype == np.uint8 and tokens.max() <= 4 for _, tokens in found)


# ----------------------------------------------------------------------- npy


def test_npy_data_format(tmp_path):
    pairs = np.array([[0, 0], [3, 1], [1, 0]], dtype=np.int16)
    path = save_objects(tmp_path / "d.npy", [[pairs, "tx1"], [pairs[:2].astype(np.int64), "tx2"]])
    assert records(path) == [("tx1", [0, 3, 1]), ("tx2", [0, 3])]


def test_npy_results_format_strips_marker(tmp_path):
    rows = [[">tx1", np.array([0, 1, 4]), np.zeros(3, np.float32)]]
    path = save_objects(tmp_path / "r.npy", rows)
    assert records(path) == [("tx1", [0, 1, 4])]


def test_npy_gzipped(tmp_path):
    plain = save_objects(tmp_path / "d.npy", [[np.array([[2, 0], [3, 0]]), "tx"]])
    packed = tmp_path / "d.npy.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert records(packed) == [("tx", [2, 3])]


def test_npy_numeric_array_is_one_record(tmp_path):
    np.save(tmp_path / "one.npy", np.array([0, 1, 2, 3, 4], dtype=np.int8))
    assert records(tmp_path / "one.npy") == [("one", [0, 1, 2, 3, 4])]


def test_npy_numeric_fortran_order(tmp_path):
    array = np.asfortranarray(np.arange(12, dtype=np.int32).reshape(3, 4))
    np.save(tmp_path / "f.npy", array)
    assert np.array_equal(load_npy(tmp_path / "f.npy"), array)


def test_npy_numpy_string_scalar_id(tmp_path):
    path = save_objects(tmp_path / "d.npy", [[np.array([[1, 0]]), np.str_("tx")]])
    assert records(path) == [("tx", [1])]


def test_npy_token_out_of_range(tmp_path):
    path = save_objects(tmp_path / "d.npy", [[np.array([[0, 0], [7, 0]]), "tx"]])
    with pytest.raises(InputError, match=r"record 'tx': invalid token 7 at position 2"):
        list(read_records(str(path)))


def test_npy_duplicate_ids(tmp_path):
    pairs = np.array([[0, 0]])
    path = save_objects(tmp_path / "d.npy", [[pairs, "tx"], [pairs, "tx"]])
    with pytest.raises(InputError, match="record 'tx': duplicate id"):
        list(read_records(str(path)))


def test_npy_empty(tmp_path):
    np.save(tmp_path / "e.npy", np.empty((0, 2), dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="no records"):
        list(read_records(str(tmp_path / "e.npy")))


def test_npy_suffix_on_text(tmp_path):
    path = write(tmp_path / "t.npy", ">a\nACGT\n")
    with pytest.raises(InputError, match=r"not a .npy file"):
        list(read_records(str(path)))


def test_npy_truncated(tmp_path):
    path = save_objects(tmp_path / "d.npy", [[np.array([[0, 0]] * 50), "tx"]])
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(InputError, match="corrupt .npy object data"):
        load_npy(path)


def test_npy_wrong_row_layout(tmp_path):
    path = save_objects(tmp_path / "d.npy", [[1, 2]])
    with pytest.raises(InputError, match=r"row 1 holds \(int, int\)"):
        list(read_records(str(path)))


class _RunsCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _RunsEval:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload", [_RunsCommand, _RunsEval])
def test_npy_malicious_pickle_is_refused(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = save_objects(tmp_path / "evil.npy", [[np.array([[0, 0]]), payload(marker)]])
    with pytest.raises(InputError, match=r"evil.npy: unsafe or unsupported pickle .*refused to load"):
        list(read_records(str(path)))
    assert not marker.exists()


def test_npy_malicious_pickle_gzipped_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    plain = save_objects(tmp_path / "evil.npy", [[_RunsCommand(marker), "tx"]])
    packed = tmp_path / "evil.npy.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InputError, match="refused to load"):
        load_npy(packed)
    assert not marker.exists()


def test_npy_structured_dtype_is_refused(tmp_path):
    inner = np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")])
    path = save_objects(tmp_path / "s.npy", [[inner, "tx"]])
    with pytest.raises(InputError, match="dtype .* is not allowed"):
        load_npy(path)


@pytest.mark.skipif(not CHR_Y.exists(), reason="shared GRCh38p13 data absent")
def test_original_data_file_matches_numpy():
    ours = load_npy(CHR_Y)
    with gzip.open(CHR_Y) as handle:
        # The shared data is ours and trusted; this is the reference loader.
        theirs = np.load(handle, allow_pickle=True)
    assert ours.shape == theirs.shape
    for mine, reference in zip(ours[:5], theirs[:5]):
        assert mine[1] == reference[1]
        assert mine[0].dtype == reference[0].dtype
        assert np.array_equal(mine[0], reference[0])
    first_id, first_tokens = next(read_records(str(CHR_Y)))
    assert first_id == theirs[0][1]
    assert np.array_equal(first_tokens, theirs[0][0][:, 0])


@pytest.mark.skipif(not SEED_RESULTS.exists(), reason="shared reference results absent")
def test_original_results_file():
    reference = np.load(SEED_RESULTS, allow_pickle=True)
    found = list(read_records(str(SEED_RESULTS)))
    assert [name for name, _ in found] == [row[0][1:] for row in reference]
    assert all(np.array_equal(tokens, row[1]) for (_, tokens), row in zip(found, reference))


def test_byte_order_mark_before_the_first_header(tmp_path):
    path = tmp_path / "bom.fa"
    path.write_bytes(b"\xef\xbb\xbf>a\nACGT\n")
    assert records(str(path)) == [("a", [0, 2, 3, 1])]


def test_npy_empty_integer_array(tmp_path):
    path = tmp_path / "empty.npy"
    np.save(path, np.zeros(0, dtype=np.int64))
    with pytest.raises(InputError, match="empty sequence"):
        list(read_records(str(path)))


def test_npy_damaged_header(tmp_path):
    path = tmp_path / "damaged.npy"
    # an unterminated tuple in the header dict made numpy's parser raise tokenize.TokenError
    path.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': False, 'shape': (3," + b" " * 40 + b"\n")
    with pytest.raises(InputError, match="not a valid .npy file"):
        list(read_records(str(path)))
