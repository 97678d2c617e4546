/*
 * SafeTensorsFormatException: a safetensors file (or a sharded checkpoint's index) is
 * malformed — truncated, a header that is not valid JSON, offsets out of range, an unknown
 * dtype, and so on. Every problem found while parsing untrusted bytes is reported with this
 * type and nothing else, so callers can tell "bad file" apart from bugs.
 * Constraints: the message names the file, what was expected, what was found, and a fix.
 */
package dev.peft4j.io;

import dev.peft4j.Peft4jException;

public final class SafeTensorsFormatException extends Peft4jException {
    public SafeTensorsFormatException(String message) {
        super(message);
    }

    public SafeTensorsFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
