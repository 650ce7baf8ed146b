"""The fairseq backend: binarisation, training, loading, teacher-forced scoring, translation
and the ``--user-dir`` plugin. The only code that imports fairseq."""
