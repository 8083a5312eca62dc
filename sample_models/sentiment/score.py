"""Entry script for the tweet sentiment sample (Word2Vec + LSTM, see train.py).

Same contract as the entry script of Azure ML's "deploy an existing model" article
(tests/samples/article_contract_score.py tests that contract): the model directory holds models/model.h5,
models/model.w2v, models/tokenizer.pkl and models/encoder.pkl; a request is
{"text": "..."}; the answer is {"label": "POSITIVE" | "NEUTRAL" | "NEGATIVE",
"score": float in [0, 1], "elapsed_time": seconds}, and a request that cannot be
scored gets its error text back as a string, as in the article.

Differences that do not change the answers:
- only the model and the tokenizer are loaded: the Word2Vec vectors are already
  inside the model's Embedding layer and the label encoder is not needed to decode
  a score, so model.w2v and encoder.pkl are left on disk;
- the model is called with predict_on_batch (a few ms, no progress bar) rather than
  predict (80-150 ms a call), and warmed up in init() so the first request is fast;
- only malformed requests are answered with an error text; a failure of the model
  itself raises, so the server logs it and answers 500 instead of 200.
"""
import json
import os
import pickle
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ info logs

from keras.models import load_model
from keras.preprocessing.sequence import pad_sequences

POSITIVE = "POSITIVE"
NEGATIVE = "NEGATIVE"
NEUTRAL = "NEUTRAL"
SENTIMENT_THRESHOLDS = (0.4, 0.7)  # score <= 0.4: NEGATIVE, score >= 0.7: POSITIVE
SEQUENCE_LENGTH = 300

model = None
tokenizer = None


def init():
    """Load the model and the tokenizer from $AZUREML_MODEL_DIR/models and warm the model up."""
    global model, tokenizer
    if not os.environ.get("AZUREML_MODEL_DIR"):
        raise RuntimeError("AZUREML_MODEL_DIR is not set: point it at the folder that holds models/")
    model_dir = os.path.join(os.environ["AZUREML_MODEL_DIR"], "models")
    model = load_model(os.path.join(model_dir, "model.h5"), compile=False)
    with open(os.path.join(model_dir, "tokenizer.pkl"), "rb") as handle:
        tokenizer = pickle.load(handle)
    score_texts(["warm-up"])


def run(data):
    """Score one request body {"text": "..."}; return the prediction dict, or an error text."""
    start = time.time()
    try:
        text = parse_text(data)
    except ValueError as error:
        return str(error)
    score = float(score_texts([text])[0])
    return {"label": decode_sentiment(score), "score": score, "elapsed_time": time.time() - start}


def parse_text(data):
    """Return the "text" string of a request body (JSON str or bytes, or an already parsed dict)."""
    if isinstance(data, (str, bytes, bytearray)):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise ValueError(f"Request body is not valid JSON: {error}") from None
    if not isinstance(data, dict) or "text" not in data:
        raise ValueError('Expected a JSON object of the form {"text": "some text to score"}')
    if not isinstance(data["text"], str):
        raise ValueError('"text" must be a string')
    return data["text"]


def score_texts(texts):
    """Return the model's positive-sentiment scores, shape (len(texts),), for a list of strings."""
    sequences = pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=SEQUENCE_LENGTH)
    return model.predict_on_batch(sequences)


def decode_sentiment(score):
    """Map a score to NEGATIVE (<= 0.4), POSITIVE (>= 0.7) or NEUTRAL (in between)."""
    if score <= SENTIMENT_THRESHOLDS[0]:
        return NEGATIVE
    if score >= SENTIMENT_THRESHOLDS[1]:
        return POSITIVE
    return NEUTRAL
