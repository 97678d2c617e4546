/*
 * DataFormatException: a training-data file (or one record in it) does not have the expected shape:
 * unreadable JSON, a missing or mistyped field, an empty file, an unrenderable chat. The message
 * names the file and the 1-based line (for a JSON array also the element index), says what was
 * expected and what was found, and how to fix it (DataConfig.skipMalformed skips bad records).
 */
package dev.peft4j.data;

import dev.peft4j.Peft4jException;

public class DataFormatException extends Peft4jException {
    public DataFormatException(String message) {
        super(message);
    }

    public DataFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
