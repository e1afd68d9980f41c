"""Remote file trees (SFTP, FTP): one store over a protocol's `Session`, and their options."""
