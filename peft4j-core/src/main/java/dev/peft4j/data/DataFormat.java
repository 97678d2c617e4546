/*
 * DataFormat: the record shapes peft4j reads from JSON / JSON Lines files, following TRL's dataset
 * formats (docs/source/dataset_formats.md) plus the Alpaca instruction shape.
 * Constraints: AUTO is resolved per file from the keys of its first record (see detect()).
 */
package dev.peft4j.data;

import java.util.Collection;

public enum DataFormat {
    /** Decide per file from the first record's keys. */
    AUTO,
    /** {"text": "..."}: language modelling, loss on every token. */
    TEXT,
    /**
     * {"prompt": "...", "completion": "..."}: loss on the completion (and EOS). Both fields may also
     * be lists of messages (TRL's conversational prompt-completion): rendered with the chat
     * template, loss on the completion's assistant turns.
     */
    PROMPT_COMPLETION,
    /** {"messages": [{"role": ..., "content": ...}, ...]}: rendered with the chat template, loss on assistant turns. */
    MESSAGES,
    /** {"instruction": ..., "input": ..., "output": ...}: a fixed prompt template, loss on the output. */
    ALPACA;

    /**
     * The format a record with these keys has: "messages" -> MESSAGES; "prompt" and "completion" ->
     * PROMPT_COMPLETION; "instruction" and "output" -> ALPACA; "text" -> TEXT; otherwise null.
     */
    static DataFormat detect(Collection<String> keys) {
        if (keys.contains("messages")) return MESSAGES;
        if (keys.contains("prompt") && keys.contains("completion")) return PROMPT_COMPLETION;
        if (keys.contains("instruction") && keys.contains("output")) return ALPACA;
        if (keys.contains("text")) return TEXT;
        return null;
    }
}
