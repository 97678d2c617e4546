/*
 * TypedErrors: the oracle every peft4j fuzz test shares — what a parser of untrusted input may do
 * with a bad input.
 *
 * Allowed: return normally, or throw dev.peft4j.Peft4jException (or a subclass such as
 * SafeTensorsFormatException, DataFormatException) whose message is non-blank. That is the one
 * exception type the CLI turns into a clean one-line message.
 * A finding (re-thrown as-is so that Jazzer reports the original stack trace): any other
 * Throwable — NullPointerException, ClassCastException, IndexOutOfBoundsException,
 * NumberFormatException, IllegalArgumentException / IllegalStateException from deep inside,
 * a raw IOException or Jackson exception, UncheckedIOException, OutOfMemoryError,
 * StackOverflowError — and a Peft4jException with a null or blank message (wrapped in an
 * AssertionError). Hangs are found by Jazzer's own per-input timeout.
 */
package dev.peft4j.fuzz;

import dev.peft4j.Peft4jException;

final class TypedErrors {
    private TypedErrors() {}

    /** The message of the latest allowed rejection (for test diagnostics). */
    static volatile String lastRejection;

    /** Code under test; may throw anything (the oracle decides). */
    @FunctionalInterface
    interface Parse {
        void run() throws Exception;
    }

    /**
     * Runs parse; returns true when it completed, false when it threw an allowed Peft4jException.
     * Anything else propagates (a finding).
     */
    static boolean check(Parse parse) throws Exception {
        try {
            parse.run();
            return true;
        } catch (Peft4jException e) {
            requireClearMessage(e);
            lastRejection = e.getMessage();
            return false;
        }
    }

    /** A Peft4jException must say something: a null or blank message is a finding. */
    static void requireClearMessage(Peft4jException e) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) {
            throw new AssertionError("a " + e.getClass().getName() + " without a message: every peft4j error must"
                    + " say what was expected, what was found and how to fix it", e);
        }
    }
}
