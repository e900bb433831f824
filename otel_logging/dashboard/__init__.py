"""The Streamlit log dashboard and its query layer (``query.LogSource`` over files or Elasticsearch)."""
