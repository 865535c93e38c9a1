"""UI strings of sign-in, sessions, lockout, audit and maintenance (en + vi), added to ui.i18n."""

from __future__ import annotations

STRINGS = [
    ("auth.locked", "Too many failed sign-ins: this account or this computer is locked until {until} (UTC). "
     "An administrator can unlock it under Settings.",
     "Đăng nhập sai quá nhiều lần: tài khoản hoặc máy này bị khóa đến {until} (UTC). "
     "Quản trị viên có thể mở khóa trong Cài đặt."),
    ("auth.ended", "Your session has ended. Please sign in again.",
     "Phiên làm việc đã kết thúc. Vui lòng đăng nhập lại."),
    ("auth.continue", "Signed in. Continue", "Đã đăng nhập. Tiếp tục"),
    ("auth.weak", "Password too weak: {why}", "Mật khẩu quá yếu: {why}"),
    ("maint.title", "CohortLens is under maintenance", "CohortLens đang được bảo trì"),
    ("maint.body", "A data file of the store is damaged or missing, so the app does not open it (nothing was "
     "changed). The administrator has the details in the server log and can restore the data from a backup.",
     "Một tệp dữ liệu bị hỏng hoặc bị mất nên ứng dụng không mở kho dữ liệu (không có gì bị thay đổi). "
     "Quản trị viên xem chi tiết trong nhật ký máy chủ và có thể khôi phục dữ liệu từ bản sao lưu."),
    ("maint.files", "Damaged: {files}", "Tệp bị hỏng: {files}"),
    ("sec.title", "Sign-in security", "Bảo mật đăng nhập"),
    ("sec.locks", "Locked accounts and computers", "Tài khoản và máy bị khóa"),
    ("sec.no_locks", "Nothing is locked.", "Không có gì bị khóa."),
    ("sec.unlock", "Unlock", "Mở khóa"),
    ("sec.unlocked", "Unlocked {key}.", "Đã mở khóa {key}."),
    ("sec.audit", "Audit log (newest first)", "Nhật ký kiểm tra (mới nhất trước)"),
    ("sec.end_all", "Sign out every session of this user", "Đăng xuất mọi phiên của người dùng này"),
]
