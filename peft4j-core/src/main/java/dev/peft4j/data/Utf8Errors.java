/*
 * Utf8Errors: where a text file stops being valid UTF-8. Java's readers report malformed input
 * without a position; data and task readers call this on that error to name file:line:column and
 * the offending byte, so the user can find and fix (or re-save as UTF-8) the exact line. Decodes
 * strictly (CodingErrorAction.REPORT) once more, only on the error path.
 */
package dev.peft4j.data;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

public final class Utf8Errors {
    private Utf8Errors() {}

    /**
     * "FILE:LINE:COLUMN: not valid UTF-8 (byte 0xNN); ..." for the first malformed or unmappable
     * sequence of file, or "FILE: not valid UTF-8 ..." when it cannot be located (unreadable now).
     */
    public static String describe(Path file) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            return file + ": not valid UTF-8 text; save the file as UTF-8";
        }
        CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(8192);
        while (true) {
            CoderResult r = dec.decode(in, out, true);
            if (r.isError()) {
                int at = in.position();
                int line = 1, lineStart = 0;
                for (int i = 0; i < at; i++) if (bytes[i] == '\n') { line++; lineStart = i + 1; }
                int column = new String(bytes, lineStart, at - lineStart, StandardCharsets.UTF_8).length() + 1;
                return file + ":" + line + ":" + column + ": not valid UTF-8 (byte 0x"
                        + String.format("%02X", bytes[at] & 0xFF) + " at byte offset " + at + "); the file must be "
                        + "UTF-8 text: fix that line or re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)";
            }
            if (r.isOverflow()) { out.clear(); continue; }
            break;   // underflow with endOfInput: all decoded
        }
        return file + ": not valid UTF-8 text; save the file as UTF-8";
    }
}
