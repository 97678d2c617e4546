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

    /**
     * Text for echoing user input in a message: at most maxChars characters (never splitting a
     * surrogate pair), then "… (N chars)" when cut, so a 100k-character prompt is not printed whole.
     */
    public static String abbreviate(String text, int maxChars) {
        if (text == null) return "null";
        if (text.length() <= maxChars) return text;
        int end = Math.max(0, maxChars);
        if (end > 0 && Character.isHighSurrogate(text.charAt(end - 1))) end--;
        return text.substring(0, end) + "… (" + text.length() + " chars)";
    }
}
