/*
 * Peft4jException: the base of every error peft4j raises on purpose (bad files, bad
 * configuration, missing tensors). Callers such as the CLI catch this one type to print a
 * clean message instead of a stack trace.
 * Constraints: unchecked; messages say what was expected, what was found, and how to fix it.
 */
package dev.peft4j;

public class Peft4jException extends RuntimeException {
    public Peft4jException(String message) {
        super(message);
    }

    public Peft4jException(String message, Throwable cause) {
        super(message, cause);
    }
}
