"""An entry script in the contract of Azure ML's "Deploy your existing model" article.

Written for scorehost's tests (our own code; no text of the article's script is copied). The
article (docs.microsoft.com/azure/machine-learning/how-to-deploy-existing-model) deploys a
Twitter sentiment model with an entry script that makes these calls, and so does this one:

- init() loads, from ``os.path.join(os.getenv('AZUREML_MODEL_DIR'), './models')``:
  model.h5 with ``keras.models.load_model``, model.w2v with
  ``gensim.models.word2vec.Word2Vec.load``, tokenizer.pkl and encoder.pkl with ``pickle.load``
  (all four, even though scoring only needs the model and the tokenizer);
- run(data) takes ``json.loads(data)['text']``, turns it into
  ``pad_sequences(tokenizer.texts_to_sequences([text]), maxlen=300)``, scores it with
  ``model.predict([x])[0]`` and answers ``{"label", "score", "elapsed_time"}``: NEGATIVE when
  score <= 0.4, POSITIVE when score >= 0.7, NEUTRAL in between;
- any exception in run() is answered as its message text (HTTP 200), as in the article.

tests/samples/test_sentiment.py serves it next to sample_models/sentiment/score.py and checks
both give the same labels and scores, i.e. that the sample's artifacts fit the article's contract.
"""
import json
import os
import pickle
import time

from gensim.models.word2vec import Word2Vec
from keras.models import load_model
from keras.preprocessing.sequence import pad_sequences

TOKENS_PER_TEXT = 300
NEGATIVE_UP_TO = 0.4
POSITIVE_FROM = 0.7

loaded = {}


def _read_pickle(path):
    with open(path, "rb") as stream:
        return pickle.load(stream)


def init():
    folder = os.path.join(os.getenv("AZUREML_MODEL_DIR"), "./models")
    loaded["net"] = load_model(os.path.join(folder, "model.h5"))
    loaded["vectors"] = Word2Vec.load(os.path.join(folder, "model.w2v"))
    loaded["tokenizer"] = _read_pickle(os.path.join(folder, "tokenizer.pkl"))
    loaded["encoder"] = _read_pickle(os.path.join(folder, "encoder.pkl"))


def label_for(score):
    if score <= NEGATIVE_UP_TO:
        return "NEGATIVE"
    if score >= POSITIVE_FROM:
        return "POSITIVE"
    return "NEUTRAL"


def run(data):
    began = time.time()
    try:
        text = json.loads(data)["text"]
        sequences = loaded["tokenizer"].texts_to_sequences([text])
        padded = pad_sequences(sequences, maxlen=TOKENS_PER_TEXT)
        score = loaded["net"].predict([padded])[0]
        return {"label": label_for(score), "score": float(score), "elapsed_time": time.time() - began}
    except Exception as problem:  # the article's contract: the error text is the answer
        return str(problem)
