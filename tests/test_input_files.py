from tis_transformer.predictor.input_files import data_name


def test_data_name_drops_only_the_format_suffix():
    assert data_name("chr13.npy.gz") == "chr13" and data_name("/x/chr13.npz") == "chr13"
    assert data_name("hs.chr1.npz") == "hs.chr1" and data_name("mm.chr1.npy") == "mm.chr1"
    assert data_name("chr2.fa") == "chr2.fa" and data_name(".npz") == ".npz"
