"""Knowledge out and across: ``memos export`` (cube source directory, JSONL, MemOS cube
directory) and ``memos import`` (MemOS cube directories, Letta agent files, mem0 OpenMemory
exports, JSONL/CSV).

Importers read other systems' files as data: a pickle is never unpickled, tool code never run
or copied, an API key never copied; what is left out is reported field by field.
"""
