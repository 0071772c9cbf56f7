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
     * A 6-digit code valid for 5 minutes. Per phone: a resend waits 30 s, then twice as long each time, at most 10 codes and 10 wrong codes a day; per network, 30 requests an hour. A driver&#39;s code goes to its transporter&#39;s phone. The answer is the same for a phone that cannot sign in with the role (an unknown driver or admin): nothing is sent then.
     * Responses:
     *  - 202: The code was sent.
     *  - 403: ACCOUNT_SUSPENDED: this account is suspended
     *  - 422: VALIDATION_FAILED: a field is invalid (see `errors`)
     *  - 429: OTP_COOLDOWN (a code was sent recently; each resend waits twice as long), OTP_DAILY_LIMIT (codes per phone per day), OTP_LOCKED (too many wrong codes today) or OTP_SOURCE_LIMIT (requests per network per hour); see Retry-After
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
     *  - 429: OTP_TOO_MANY_ATTEMPTS (request a new code) or OTP_LOCKED (too many wrong codes for this phone today; see Retry-After)
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *
     * @param otpVerify 
     * @return [TokenBody]
     */
    @POST("v1/auth/otp/verify")
    suspend fun verifyOtp(@Body otpVerify: OtpVerify): Response<TokenBody>

}
