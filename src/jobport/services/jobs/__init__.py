"""Jobs: the one builder every surface creates jobs with (`draft`), and per way of creating them
(`create`: the native API, `posted_file`: a file posted with the request, `records`: inline
records of an app), what comes after creation (`control`) and reading them (`queries`)."""
