/*
 * Sha256: the SHA-256 of a file, streamed in 8 MiB reads so a multi-gigabyte weight file needs no
 * more memory than the buffer. The hex digest equals `sha256sum FILE`.
 */
package dev.peft4j.provenance;

import dev.peft4j.Peft4jException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

public final class Sha256 {
    private static final int BUFFER = 8 << 20;

    private Sha256() {}

    public static String of(Path file) {
        MessageDigest md = digest();
        byte[] buf = new byte[BUFFER];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        } catch (IOException e) {
            throw new Peft4jException("cannot read " + file + " to compute its SHA-256: " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    public static String of(byte[] bytes) {
        return HexFormat.of().formatHex(digest().digest(bytes));
    }

    private static MessageDigest digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime provides SHA-256", e);
        }
    }
}
