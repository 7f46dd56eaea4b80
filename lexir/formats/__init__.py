"""The field's file formats for pre-encoded vectors and indexes: Pyserini's JsonVectorCollection (jsonvector.py)
and CIFF (ciff.py)."""
