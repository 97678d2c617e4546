/*
 * ApiError: an error answered in OpenAI's shape, {"error": {"message", "type", "param", "code"}},
 * with its HTTP status.
 */
package dev.peft4j.serve;

import java.util.LinkedHashMap;
import java.util.Map;

public final class ApiError extends RuntimeException {
    public final int status;
    public final String type, param, code;

    public ApiError(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    /** 400 invalid_request_error about one parameter. */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, null, message);
    }

    public static ApiError notFound(String model) {
        return new ApiError(404, "invalid_request_error", "model", "model_not_found",
                "The model `" + model + "` does not exist or you do not have access to it.");
    }

    public Map<String, Object> body() {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("message", getMessage());
        e.put("type", type);
        e.put("param", param);
        e.put("code", code);
        return Map.of("error", e);
    }
}
