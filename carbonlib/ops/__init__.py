"""Operations of the platform: backup and restore (:mod:`.backup`)."""
