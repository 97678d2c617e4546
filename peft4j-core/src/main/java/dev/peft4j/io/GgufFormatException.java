/*
 * GgufFormatException: a GGUF file is malformed or uses something peft4j does not read; the message
 * names the file, what was expected and what was found.
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;

public final class GgufFormatException extends Peft4jException {
    public GgufFormatException(String message) {
        super(message);
    }
}
