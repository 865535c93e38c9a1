"""Every UI string, in English and Vietnamese, in one place: ``t(key, **kw)``.

The language comes from the sidebar switch (session state ``lang``); its default is the ``language``
setting (store settings, then config), else Vietnamese.  A key missing in Vietnamese falls back to
English; a key missing everywhere shows the key itself (a test checks that none is missing).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

__all__ = ["LANGUAGES", "STRINGS", "t", "current_language", "set_language", "default_language"]

LANGUAGES = {"vi": "Tiếng Việt", "en": "English"}
DEFAULT_LANGUAGE = "vi"

STRINGS: dict[str, dict[str, str]] = {
    "en": {},
    "vi": {},
}


def _add(key: str, en: str, vi: str) -> None:
    STRINGS["en"][key] = en
    STRINGS["vi"][key] = vi


_T = [
    # app / navigation
    ("app.title", "CohortLens", "CohortLens"),
    ("nav.overview", "Overview", "Tổng quan"),
    ("nav.clusters", "Clusters", "Nhóm học viên"),
    ("nav.transitions", "Transitions", "Chuyển nhóm"),
    ("nav.diagnostics", "Diagnostics", "Chẩn đoán"),
    ("nav.activity", "Activity", "Hoạt động"),
    ("nav.jobs", "Jobs", "Tác vụ"),
    ("nav.import", "Import", "Nhập dữ liệu"),
    ("nav.settings", "Settings", "Cài đặt"),
    ("side.course", "Course", "Khoá học"),
    ("side.no_courses", "No course is available to you yet.", "Bạn chưa được cấp quyền khoá học nào."),
    ("side.language", "Language", "Ngôn ngữ"),
    ("side.user", "Signed in as {name} ({role})", "Đăng nhập: {name} ({role})"),
    ("role.admin", "admin", "quản trị"),
    ("role.instructor", "instructor", "giảng viên"),
    # auth
    ("auth.title", "Sign in to CohortLens", "Đăng nhập CohortLens"),
    ("auth.username", "Username", "Tên đăng nhập"),
    ("auth.password", "Password", "Mật khẩu"),
    ("auth.login", "Sign in", "Đăng nhập"),
    ("auth.logout", "Sign out", "Đăng xuất"),
    ("auth.wrong", "Wrong username or password.", "Sai tên đăng nhập hoặc mật khẩu."),
    ("auth.hint", "Sign in with the account your administrator gave you. On first start the admin password "
     "is printed once in the terminal.", "Đăng nhập bằng tài khoản quản trị viên cấp. Lần chạy đầu tiên, mật "
     "khẩu admin được in một lần trong terminal."),
    ("auth.error", "Sign-in failed: {msg}", "Đăng nhập thất bại: {msg}"),
    ("auth.gone", "This account no longer exists.", "Tài khoản này không còn tồn tại."),
    ("auth.bad_course", "That is not a valid course id.", "Mã khoá học không hợp lệ."),
    ("auth.login_first", "Please sign in first.", "Vui lòng đăng nhập trước."),
    ("auth.forbidden", "You do not have access to course {course}.", "Bạn không có quyền truy cập khoá học {course}."),
    ("auth.admin_only", "This page is for administrators only.", "Trang này chỉ dành cho quản trị viên."),
    # common states
    ("common.loading", "Loading…", "Đang tải…"),
    ("common.error", "Could not load the data: {msg}", "Không tải được dữ liệu: {msg}"),
    ("common.no_course", "Pick a course in the sidebar.", "Hãy chọn một khoá học ở thanh bên."),
    ("common.no_run", "No clustering run for this course yet. Start one on the Jobs page (Run now).",
     "Khoá học này chưa có lần phân nhóm nào. Hãy chạy trên trang Tác vụ (Chạy ngay)."),
    ("common.run_at", "Run of {date} · k = {k} · {students} students",
     "Lần chạy {date} · k = {k} · {students} học viên"),
    ("common.download_csv", "Download CSV", "Tải CSV"),
    ("common.download_xlsx", "Download Excel", "Tải Excel"),
    ("common.search", "Search by name or id", "Tìm theo tên hoặc mã"),
    ("common.run", "Run", "Lần chạy"),
    ("common.none", "—", "—"),
    ("common.yes", "yes", "có"),
    ("common.no", "no", "không"),
    ("common.set", "set", "đã đặt"),
    ("common.not_set", "not set", "chưa đặt"),
    ("common.save", "Save", "Lưu"),
    ("common.saved", "Saved.", "Đã lưu."),
    # overview
    ("ov.title", "Overview", "Tổng quan"),
    ("ov.subtitle", "Your courses at a glance: last and next run, groups, alerts and who moved.",
     "Các khoá học của bạn: lần chạy gần nhất và kế tiếp, số nhóm, cảnh báo và học viên chuyển nhóm."),
    ("ov.courses", "Courses", "Khoá học"),
    ("ov.col.course", "Course", "Khoá học"),
    ("ov.col.last_run", "Last run", "Lần chạy gần nhất"),
    ("ov.col.next_run", "Next run", "Lần chạy kế tiếp"),
    ("ov.col.clusters", "Groups", "Số nhóm"),
    ("ov.col.students", "Students", "Học viên"),
    ("ov.col.moved", "Moved since last run", "Chuyển nhóm từ lần trước"),
    ("ov.col.alerts", "Alerts", "Cảnh báo"),
    ("ov.empty", "No course has a run yet. The demo courses are being prepared, or start a run on the Jobs page.",
     "Chưa khoá học nào có kết quả. Dữ liệu mẫu đang được chuẩn bị, hoặc hãy chạy trên trang Tác vụ."),
    ("ov.no_courses", "No course is available to you. Ask an administrator to grant you a course.",
     "Bạn chưa có khoá học nào. Hãy nhờ quản trị viên cấp quyền."),
    ("ov.bootstrap", "Preparing the demo courses (first start): {pct} done, now {step}…",
     "Đang chuẩn bị khoá học mẫu (lần đầu): xong {pct}, đang xử lý {step}…"),
    ("ov.bootstrap_running", "Preparing the demo courses (first start)…", "Đang chuẩn bị khoá học mẫu (lần đầu)…"),
    ("ov.bootstrap_failed", "Preparing the demo courses failed: {msg}", "Chuẩn bị khoá học mẫu thất bại: {msg}"),
    ("ov.alerts", "Alerts for {course}", "Cảnh báo của {course}"),
    ("ov.no_alerts", "No alerts.", "Không có cảnh báo."),
    ("ov.movers", "Biggest movers in {course}", "Học viên thay đổi nhiều nhất trong {course}"),
    ("ov.no_movers", "Nobody moved since the previous run.", "Không ai chuyển nhóm kể từ lần trước."),
    ("ov.schedule_off", "schedule off", "lịch tắt"),
    # clusters
    ("cl.title", "Clusters", "Nhóm học viên"),
    ("cl.subtitle", "Which kinds of learners this course has, and who is in each group.",
     "Khoá học có những kiểu học viên nào, và ai thuộc nhóm nào."),
    ("cl.size", "{size} students · {share} of course", "{size} học viên · {share} khoá học"),
    ("cl.source.rules", "profile: rule-based", "mô tả: theo quy tắc"),
    ("cl.source.llm", "profile: written by the language model", "mô tả: do mô hình ngôn ngữ viết"),
    ("cl.top", "Sets it apart from the course average", "Khác biệt so với trung bình khoá học"),
    ("cl.above", "above average", "cao hơn trung bình"),
    ("cl.below", "below average", "thấp hơn trung bình"),
    ("cl.recommend", "Suggestions", "Gợi ý"),
    ("cl.members", "Members", "Thành viên"),
    ("cl.filter_cluster", "Group", "Nhóm"),
    ("cl.all", "All groups", "Tất cả nhóm"),
    ("cl.only_anomalies", "Only students with unusual values", "Chỉ học viên có giá trị bất thường"),
    ("cl.no_snapshot", "The per-student data of this run is not available.",
     "Không có dữ liệu từng học viên của lần chạy này."),
    ("cl.col.user_id", "Student id", "Mã học viên"),
    ("cl.col.fullname", "Name", "Họ tên"),
    ("cl.col.fullname", "Name", "Họ tên"),
    ("cl.col.cluster", "Group", "Nhóm"),
    ("cl.col.engagement", "Engagement (0-100)", "Mức tham gia (0-100)"),
    ("cl.col.silhouette", "Fit (silhouette)", "Độ phù hợp (silhouette)"),
    ("cl.col.anomaly", "Unusual", "Bất thường"),
    ("fig.sizes", "Students per group", "Số học viên mỗi nhóm"),
    ("fig.heatmap", "Group profiles (z-score vs course average)", "Đặc trưng nhóm (z-score so với trung bình)"),
    ("fig.map", "Students in two dimensions", "Học viên trên mặt phẳng hai chiều"),
    ("fig.students", "Students", "Học viên"),
    ("fig.group", "Group", "Nhóm"),
    ("fig.feature", "Feature", "Đặc trưng"),
    ("fig.comp1", "Component 1 (PCA)", "Thành phần 1 (PCA)"),
    ("fig.comp2", "Component 2 (PCA)", "Thành phần 2 (PCA)"),
    # transitions
    ("tr.title", "Transitions", "Chuyển nhóm"),
    ("tr.subtitle", "Who moved between groups, between any two runs or across the last runs.",
     "Ai chuyển nhóm giữa hai lần chạy bất kỳ hoặc qua các lần chạy gần đây."),
    ("tr.need_two", "Transitions need at least two runs of this course.",
     "Cần ít nhất hai lần chạy để xem chuyển nhóm."),
    ("tr.from", "From run", "Từ lần chạy"),
    ("tr.to", "To run", "Đến lần chạy"),
    ("tr.last_n", "Number of recent runs", "Số lần chạy gần đây"),
    ("tr.two", "Between two runs", "Giữa hai lần chạy"),
    ("tr.across", "Across the last runs", "Qua các lần chạy gần đây"),
    ("tr.movers", "Movers in the latest run", "Học viên chuyển nhóm ở lần chạy mới nhất"),
    ("tr.student", "One student's path", "Hành trình của một học viên"),
    ("tr.student_pick", "Student id", "Mã học viên"),
    ("tr.no_history", "No history for this student.", "Không có lịch sử cho học viên này."),
    ("tr.col.from", "From", "Từ nhóm"),
    ("tr.col.to", "To", "Sang nhóm"),
    ("tr.col.delta", "Engagement change", "Thay đổi mức tham gia"),
    ("tr.col.changed", "What changed", "Điều gì thay đổi"),
    ("tr.same", "Pick two different runs.", "Hãy chọn hai lần chạy khác nhau."),
    ("fig.sankey", "Who moved where", "Ai chuyển đi đâu"),
    ("fig.sankey_n", "Movement across the last {n} runs", "Chuyển nhóm qua {n} lần chạy gần đây"),
    ("fig.path", "Group over time", "Nhóm theo thời gian"),
    ("fig.run_date", "Run date", "Ngày chạy"),
    # diagnostics
    ("dg.title", "Diagnostics", "Chẩn đoán"),
    ("dg.subtitle", "Why this number of groups, how well they separate, and what the model used.",
     "Vì sao chọn số nhóm này, các nhóm tách biệt ra sao, và mô hình dùng những gì."),
    ("dg.votes", "The vote for k", "Bỏ phiếu chọn k"),
    ("dg.col.criterion", "Criterion", "Tiêu chí"),
    ("dg.col.k", "Votes for k", "Chọn k"),
    ("dg.reason", "Why k = {k}: {reason}", "Vì sao k = {k}: {reason}"),
    ("dg.pinned", "k was fixed by the administrator.", "k do quản trị viên cố định."),
    ("dg.kept", "Features used", "Đặc trưng được dùng"),
    ("dg.dropped", "Features dropped", "Đặc trưng bị loại"),
    ("dg.col.name", "Feature", "Đặc trưng"),
    ("dg.col.reason", "Reason", "Lý do"),
    ("dg.drift", "Drift since the previous run", "Độ trôi so với lần chạy trước"),
    ("dg.no_drift", "No previous run to compare with.", "Chưa có lần chạy trước để so sánh."),
    ("dg.quality", "Silhouette {sil} · Davies-Bouldin {db}", "Silhouette {sil} · Davies-Bouldin {db}"),
    ("fig.elbow", "Elbow: inertia per k", "Khuỷu tay: quán tính theo k"),
    ("fig.k", "Number of groups k", "Số nhóm k"),
    ("fig.inertia", "Inertia (within-group sum of squares)", "Quán tính (tổng bình phương trong nhóm)"),
    ("fig.knee", "knee", "điểm gãy"),
    ("fig.chosen", "chosen k", "k được chọn"),
    ("fig.quality", "Silhouette and Davies-Bouldin per k", "Silhouette và Davies-Bouldin theo k"),
    ("fig.sil_axis", "Silhouette (higher is better)", "Silhouette (càng cao càng tốt)"),
    ("fig.db_axis", "Davies-Bouldin (lower is better)", "Davies-Bouldin (càng thấp càng tốt)"),
    ("fig.silhouette", "Per-student silhouette", "Silhouette từng học viên"),
    ("fig.sil_x", "Silhouette coefficient (-1 to 1)", "Hệ số silhouette (-1 đến 1)"),
    ("fig.sil_y", "Students, sorted within group", "Học viên, sắp xếp trong nhóm"),
    ("fig.drift", "Feature drift since the previous run", "Độ trôi đặc trưng so với lần trước"),
    ("fig.psi", "Population stability index (PSI)", "Chỉ số ổn định quần thể (PSI)"),
    # activity
    ("ac.title", "Activity", "Hoạt động"),
    ("ac.subtitle", "How much the course is used: views by type, active days, activity per student.",
     "Mức độ sử dụng khoá học: lượt xem theo loại, số ngày hoạt động, hoạt động mỗi học viên."),
    ("ac.empty", "No activity report for this course yet.", "Khoá học này chưa có báo cáo hoạt động."),
    ("ac.latest", "Latest report ({date})", "Báo cáo mới nhất ({date})"),
    ("ac.views", "Total views", "Tổng lượt xem"),
    ("ac.students", "Students", "Học viên"),
    ("ac.active_days", "Active days", "Số ngày hoạt động"),
    ("ac.avg", "Views per student per day", "Lượt xem/học viên/ngày"),
    ("ac.col.extraction_date", "Date", "Ngày"),
    ("ac.col.num_students", "Students", "Học viên"),
    ("ac.col.num_teachers", "Teachers", "Giảng viên"),
    ("ac.col.file_views", "File views", "Xem tệp"),
    ("ac.col.video_views", "Video views", "Xem video"),
    ("ac.col.forum_views", "Forum views", "Xem diễn đàn"),
    ("ac.col.quiz_views", "Quiz views", "Xem bài kiểm tra"),
    ("ac.col.assignment_views", "Assignment views", "Xem bài tập"),
    ("ac.col.url_views", "Link views", "Xem liên kết"),
    ("ac.col.total_views", "Total views", "Tổng lượt xem"),
    ("ac.col.active_days", "Active days", "Số ngày hoạt động"),
    ("ac.col.avg_activity_per_student_per_day", "Views per student per day", "Lượt xem/học viên/ngày"),
    ("fig.activity", "Course activity over time", "Hoạt động khoá học theo thời gian"),
    ("fig.date", "Extraction date", "Ngày trích xuất"),
    ("fig.views", "Views", "Lượt xem"),
    ("fig.avg", "Views per student per day", "Lượt xem/học viên/ngày"),
    # jobs
    ("jb.title", "Jobs", "Tác vụ"),
    ("jb.subtitle", "Run the clustering now, follow its progress, see past runs and the schedule.",
     "Chạy phân nhóm ngay, theo dõi tiến độ, xem các lần chạy trước và lịch chạy."),
    ("jb.run_course", "Run now for {course}", "Chạy ngay cho {course}"),
    ("jb.run_all", "Run now for all my courses ({n})", "Chạy ngay cho tất cả khoá học của tôi ({n})"),
    ("jb.queued", "Job queued: {job}", "Đã xếp hàng tác vụ: {job}"),
    ("jb.submit_failed", "Could not start the job: {msg}", "Không thể khởi chạy tác vụ: {msg}"),
    ("jb.progress", "Job {job}: {status}", "Tác vụ {job}: {status}"),
    ("jb.done", "Job {job} finished: {status}. The new run is shown on every page.",
     "Tác vụ {job} đã xong: {status}. Kết quả mới hiển thị trên mọi trang."),
    ("jb.new_run", "New run: k = {k}, {students} students, {date}.", "Lần chạy mới: k = {k}, {students} học viên, {date}."),
    ("jb.history", "History", "Lịch sử"),
    ("jb.no_jobs", "No job yet.", "Chưa có tác vụ nào."),
    ("jb.col.job", "Job", "Tác vụ"),
    ("jb.col.courses", "Courses", "Khoá học"),
    ("jb.col.trigger", "Trigger", "Kích hoạt"),
    ("jb.col.status", "Status", "Trạng thái"),
    ("jb.col.created", "Created", "Tạo lúc"),
    ("jb.col.duration", "Duration (s)", "Thời lượng (giây)"),
    ("jb.col.attempts", "Attempts", "Số lần thử"),
    ("jb.col.error", "Error", "Lỗi"),
    ("jb.schedule", "Schedule", "Lịch chạy"),
    ("jb.cron", "Cron expression (minute hour day month weekday)", "Biểu thức cron (phút giờ ngày tháng thứ)"),
    ("jb.tz", "Timezone (IANA, e.g. Asia/Ho_Chi_Minh)", "Múi giờ (IANA, ví dụ Asia/Ho_Chi_Minh)"),
    ("jb.enabled", "Nightly run enabled", "Bật chạy hằng đêm"),
    ("jb.course_enabled", "Courses included in the nightly run", "Khoá học trong lần chạy hằng đêm"),
    ("jb.next", "Next runs: {times}", "Các lần chạy tới: {times}"),
    ("jb.invalid", "Invalid schedule: {msg}", "Lịch không hợp lệ: {msg}"),
    ("jb.schedule_ro", "Schedule: {cron} ({tz}), {state}. Only administrators can change it.",
     "Lịch: {cron} ({tz}), {state}. Chỉ quản trị viên được thay đổi."),
    ("jb.on", "on", "bật"),
    ("jb.off", "off", "tắt"),
    ("jb.health", "Health", "Tình trạng"),
    ("jb.scheduler_running", "Scheduler running", "Bộ lập lịch đang chạy"),
    ("jb.scheduler_next", "Next scheduled run", "Lần chạy theo lịch kế tiếp"),
    ("jb.running_jobs", "Jobs running", "Tác vụ đang chạy"),
    ("jb.failed_24h", "Failed in the last 24 h", "Thất bại trong 24 giờ qua"),
    ("jb.store", "Database", "Cơ sở dữ liệu"),
    # import
    ("im.title", "Import a Moodle log", "Nhập nhật ký Moodle"),
    ("im.subtitle", "Upload a Moodle \"Logs\" report (CSV) to cluster a course that is not reachable by the API.",
     "Tải lên báo cáo \"Logs\" của Moodle (CSV) để phân nhóm một khoá học không truy cập được qua API."),
    ("im.log", "Moodle log export (CSV, Excel, JSON or ODS)", "Tệp nhật ký Moodle (CSV, Excel, JSON hoặc ODS)"),
    ("im.grades", "Gradebook export (optional)", "Tệp bảng điểm (tuỳ chọn)"),
    ("im.preview", "Preview: {rows} events, {users} users, from {start} to {end}",
     "Xem trước: {rows} sự kiện, {users} người dùng, từ {start} đến {end}"),
    ("im.bad", "This file could not be read as a Moodle log export: {msg}",
     "Không đọc được tệp này như nhật ký Moodle: {msg}"),
    ("im.course_id", "Course id", "Mã khoá học"),
    ("im.course_name", "Course name", "Tên khoá học"),
    ("im.submit", "Import and cluster", "Nhập và phân nhóm"),
    ("im.saved", "Saved the upload and queued job {job}.", "Đã lưu tệp và xếp hàng tác vụ {job}."),
    ("im.need_file", "Upload a log file to begin.", "Hãy tải lên một tệp nhật ký để bắt đầu."),
    ("im.not_allowed", "Only administrators or instructors of course {course} can import it.",
     "Chỉ quản trị viên hoặc giảng viên của khoá học {course} mới được nhập."),
    ("im.frame", "Course dates and time zone (used to read the times: set them when you know them)",
     "Ngày và múi giờ của khoá học (dùng để đọc thời gian: hãy nhập nếu biết)"),
    ("im.start", "Course start", "Ngày bắt đầu"),
    ("im.end", "Course end", "Ngày kết thúc"),
    ("im.tz", "Time zone of the export (the course's)", "Múi giờ của tệp (của khoá học)"),
    ("im.check", "Check before importing: {msg}", "Kiểm tra trước khi nhập: {msg}"),
    ("im.grades_bad", "The gradebook file could not be read: {msg}", "Không đọc được tệp bảng điểm: {msg}"),
    ("im.grades_read", "Gradebook: {items} quiz item(s), {rows} student row(s); ranges: {ranges}",
     "Bảng điểm: {items} bài kiểm tra, {rows} dòng sinh viên; thang điểm: {ranges}"),
    ("im.max_ask", "The gradebook does not say the maximum of these items: give it (else they are left out)",
     "Bảng điểm không ghi điểm tối đa của các mục này: hãy nhập (nếu không, chúng bị bỏ qua)"),
    ("im.max_of", "Maximum of {item}", "Điểm tối đa của {item}"),
    ("im.new_course", "A new course id is suggested; change it only to replace an existing course.",
     "Mã khoá học mới được đề xuất; chỉ đổi để thay thế một khoá học có sẵn."),
    ("im.exists", "Course {course} ({name}) already exists. Importing into it makes this file its data from now "
     "on: its next runs (nightly included) read this upload, not Moodle; its earlier runs stay in the history.",
     "Khoá học {course} ({name}) đã tồn tại. Nhập vào đó sẽ dùng tệp này làm dữ liệu từ nay: các lần chạy sau "
     "(kể cả hằng đêm) đọc tệp này, không đọc Moodle; các lần chạy trước vẫn còn trong lịch sử."),
    ("im.confirm", "Yes, import into existing course {course}", "Có, nhập vào khoá học {course} đã có"),
    ("im.done", "Done: course {course} ({name}) is grouped.", "Xong: khoá học {course} ({name}) đã được phân nhóm."),
    ("im.see_groups", "See the groups", "Xem các nhóm"),
    ("im.not_done", "The import of course {course} ended {status}: {reason}",
     "Việc nhập khoá học {course} kết thúc ({status}): {reason}"),
    ("im.retention", "Uploads are kept {days} days, then deleted.", "Tệp tải lên được giữ {days} ngày rồi bị xoá."),
    ("st.imports", "Imported logs", "Nhật ký đã nhập"),
    ("st.retention_days", "Keep uploaded log files (days)", "Giữ tệp nhật ký đã tải lên (ngày)"),
    ("st.frame_course", "Course", "Khoá học"),
    ("st.frame_saved", "Saved the dates of course {course}.", "Đã lưu ngày của khoá học {course}."),
    # settings
    ("st.title", "Settings", "Cài đặt"),
    ("st.moodle", "Moodle connection", "Kết nối Moodle"),
    ("st.moodle_url", "Moodle URL", "Địa chỉ Moodle"),
    ("st.std_token", "Standard token (core_*, gradereport_*)", "Token chuẩn (core_*, gradereport_*)"),
    ("st.custom_token", "Custom token (local_userlog_get_logs_course)", "Token tuỳ chỉnh (local_userlog_get_logs_course)"),
    ("st.token_state", "Standard token: {std} · custom token: {custom}", "Token chuẩn: {std} · token tuỳ chỉnh: {custom}"),
    ("st.token_help", "Leave empty to keep the current value. Tokens are saved to .streamlit/secrets.toml and never shown.",
     "Để trống để giữ giá trị hiện tại. Token được lưu vào .streamlit/secrets.toml và không bao giờ hiển thị."),
    ("st.save_moodle", "Save Moodle settings", "Lưu cài đặt Moodle"),
    ("st.test", "Test connection", "Kiểm tra kết nối"),
    ("st.test_ok", "Connected to {site}.", "Đã kết nối tới {site}."),
    ("st.test_fail", "Connection failed: {msg}", "Kết nối thất bại: {msg}"),
    ("st.col.function", "Function", "Hàm"),
    ("st.col.ok", "Works", "Hoạt động"),
    ("st.col.detail", "Detail", "Chi tiết"),
    ("st.llm", "Language model for profiles", "Mô hình ngôn ngữ cho mô tả nhóm"),
    ("st.llm_on", "Write profiles with the language model (falls back to rules)",
     "Dùng mô hình ngôn ngữ để viết mô tả (nếu lỗi thì dùng quy tắc)"),
    ("st.llm_model", "Model", "Mô hình"),
    ("st.llm_key", "GEMINI_API_KEY: {state}", "GEMINI_API_KEY: {state}"),
    ("st.language", "Default language", "Ngôn ngữ mặc định"),
    ("st.users", "Users and course grants", "Người dùng và quyền khoá học"),
    ("st.new_user", "Add or update a user", "Thêm hoặc cập nhật người dùng"),
    ("st.username", "Username", "Tên đăng nhập"),
    ("st.name", "Full name", "Họ tên"),
    ("st.password", "Password (leave empty to keep)", "Mật khẩu (để trống để giữ nguyên)"),
    ("st.role", "Role", "Vai trò"),
    ("st.courses", "Granted courses", "Khoá học được cấp"),
    ("st.save_user", "Save user", "Lưu người dùng"),
    ("st.user_saved", "User {user} saved.", "Đã lưu người dùng {user}."),
    ("st.user_bad", "Could not save the user: {msg}", "Không lưu được người dùng: {msg}"),
    ("st.delete_user", "Delete user", "Xoá người dùng"),
    ("st.deleted", "User {user} deleted.", "Đã xoá người dùng {user}."),
    ("st.cant_delete_self", "You cannot delete your own account.", "Bạn không thể xoá tài khoản của chính mình."),
    ("st.col.user", "User", "Người dùng"),
    ("st.col.role", "Role", "Vai trò"),
    ("st.col.courses", "Courses", "Khoá học"),
    # captions (figures.caption_*)
    ("cap.sizes", "{n} groups; the largest, {name}, holds {share} of students.",
     "{n} nhóm; nhóm lớn nhất, {name}, chiếm {share} học viên."),
    ("cap.heatmap", "Red cells are above the course average, blue below; numbers are standard deviations.",
     "Ô đỏ cao hơn trung bình khoá học, ô xanh thấp hơn; số là độ lệch chuẩn."),
    ("cap.map", "Each dot is a student; students close together behave alike.",
     "Mỗi chấm là một học viên; các học viên gần nhau có hành vi giống nhau."),
    ("cap.sankey", "{moved} of {total} students changed group between these runs.",
     "{moved} trên {total} học viên đã chuyển nhóm giữa các lần chạy này."),
    ("cap.elbow", "The curve bends at k={knee}; the vote chose k={chosen}.",
     "Đường cong gãy tại k={knee}; bỏ phiếu chọn k={chosen}."),
    ("cap.quality", "Higher silhouette and lower Davies-Bouldin mean better-separated groups; chosen k={chosen}.",
     "Silhouette cao và Davies-Bouldin thấp nghĩa là các nhóm tách biệt tốt; k được chọn={chosen}."),
    ("cap.silhouette", "Bars below zero are students who sit closer to another group (mean {avg}).",
     "Thanh dưới 0 là học viên gần nhóm khác hơn (trung bình {avg})."),
    ("cap.drift", "{n} features shifted noticeably since the previous run (PSI above 0.2).",
     "{n} đặc trưng thay đổi rõ rệt so với lần trước (PSI trên 0,2)."),
    ("cap.activity", "Views per extraction date over {n} dates, with the average per student per day.",
     "Lượt xem theo ngày trích xuất qua {n} ngày, kèm trung bình mỗi học viên mỗi ngày."),
    ("cap.path", "This student changed group {n} times.", "Học viên này đã chuyển nhóm {n} lần."),
]
for _k, _en, _vi in _T:
    _add(_k, _en, _vi)


def default_language() -> str:
    """The configured default: store setting ``language``, then config.language, else "vi"."""
    try:
        from ui.resources import get_config, setting

        lang = setting("language") or getattr(get_config(), "language", None)
    except Exception:  # store/config not available (e.g. a unit test): use the built-in default
        lang = None
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """The session's language (sidebar switch), initialised from the default."""
    try:
        lang = st.session_state.get("lang")
    except Exception:  # outside a Streamlit run
        lang = None
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def set_language(lang: str) -> None:
    if lang in LANGUAGES:
        st.session_state["lang"] = lang


def t(key: str, lang: str | None = None, **kw: Any) -> str:
    """The UI string for ``key`` in the current language, formatted with ``kw``."""
    lang = lang or current_language()
    text = STRINGS.get(lang, {}).get(key) or STRINGS["en"].get(key) or key
    if kw:
        try:
            return text.format(**kw)
        except (KeyError, IndexError, ValueError):
            return text
    return text
