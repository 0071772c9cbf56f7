package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.LogoutRequest
import app.weelo.api.models.OtpRequest
import app.weelo.api.models.OtpSentBody
import app.weelo.api.models.OtpVerify
import app.weelo.api.models.Problem
import app.weelo.api.models.RefreshRequest
import app.weelo.api.models.TokenBody

interface AuthApi {
    /**
     * POST v1/auth/logout
     * Sign out: the access token stops working at once; with &#x60;refreshToken&#x60;, its session is revoked.
     * 
     * Responses:
     *  - 204: Signed out.
     *  - 401: UNAUTHORIZED: missing, invalid, expired or signed-out access token
     *  - 422: VALIDATION_FAILED: a field is invalid (see `errors`)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE: Redis is unavailable
     *
     * @param logoutRequest 
     * @return [Unit]
     */
    @POST("v1/auth/logout")
    suspend fun logout(@Body logoutRequest: LogoutRequest): Response<Unit>

    /**
     * POST v1/auth/refresh
     * Rotate a refresh token.
     * Returns a new pair; the presented refresh token stops working. Presenting an already rotated token revokes the whole session (&#x60;REFRESH_TOKEN_REUSED&#x60;).
     * Responses:
     *  - 200: 
     *  - 401: REFRESH_TOKEN_INVALID, REFRESH_TOKEN_EXPIRED, REFRESH_TOKEN_REVOKED, or REFRESH_TOKEN_REUSED (the session is revoked)
     *  - 422: VALIDATION_FAILED: a field is invalid (see `errors`)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *
     * @param refreshRequest 
     * @return [TokenBody]
     */
    @POST("v1/auth/refresh")
    suspend fun refreshTokens(@Body refreshRequest: RefreshRequest): Response<TokenBody>

    /**
     * POST v1/auth/otp/request
     * Send a one-time code by SMS.
     * A 6-digit code valid for 5 minutes; at most one code per 30 s per phone and role. A driver&#39;s code goes to its transporter&#39;s phone.
     * Responses:
     *  - 202: The code was sent.
     *  - 403: ROLE_NOT_ALLOWED: admin accounts cannot be created by sign-in
     *  - 404: DRIVER_NOT_REGISTERED: no driver with this phone
     *  - 422: VALIDATION_FAILED: a field is invalid (see `errors`)
     *  - 429: OTP_COOLDOWN: a code was sent less than 30 s ago (see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: SMS_UNAVAILABLE: the code could not be sent
     *
     * @param otpRequest 
     * @return [OtpSentBody]
     */
    @POST("v1/auth/otp/request")
    suspend fun requestOtp(@Body otpRequest: OtpRequest): Response<OtpSentBody>

    /**
     * POST v1/auth/otp/verify
     * Exchange a code for an access token and a refresh token.
     * Three wrong codes use the code up. Customers and transporters are created on first sign-in.
     * Responses:
     *  - 200: 
     *  - 401: OTP_INVALID (wrong code, see attemptsLeft) or OTP_EXPIRED (no valid code)
     *  - 404: USER_NOT_FOUND: the driver or admin account no longer exists
     *  - 422: VALIDATION_FAILED: a field is invalid (see `errors`)
     *  - 429: OTP_TOO_MANY_ATTEMPTS: request a new code
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *
     * @param otpVerify 
     * @return [TokenBody]
     */
    @POST("v1/auth/otp/verify")
    suspend fun verifyOtp(@Body otpVerify: OtpVerify): Response<TokenBody>

}
