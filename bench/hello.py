"""The reference: a hello-world Flask app under the same gunicorn settings as a site."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "Bonjour"
