/*
 * Raised when the loss or the gradient norm stops being finite; the message names the step, the
 * last good checkpoint and what to change.
 */
package dev.peft4j.train;

import dev.peft4j.Peft4jException;

public final class TrainingDivergedException extends Peft4jException {
    public TrainingDivergedException(String message) { super(message); }
}
