; Sổ Tiêm — the Windows installer of the desktop app, made on Linux by scripts/windows with
; Debian's makensis (Tauri's own NSIS bundler downloads its plugins at build time, which these
; machines cannot). Defines given by the script: VERSION, APP_EXE, OUT_FILE, ICON, and
; optionally WEBVIEW2_BOOTSTRAPPER (Microsoft's MicrosoftEdgeWebview2Setup.exe, to embed).
;
; Per user, no administrator: nurses work under a standard account, so the app goes to
; %LOCALAPPDATA%\Programs\SoTiem, its Start-menu entry to the user's own menu, and its
; uninstall entry under HKCU. The station's data is never in the program folder
; (%LOCALAPPDATA%\vn.sotiem.desktop) and neither an update nor an uninstall touches it.
;
; The app's updater (tauri-plugin-updater) runs this file as `setup.exe /P /UPDATE [/R] [/ARGS …]`:
; /P installs with the progress page only, /S silently, /UPDATE keeps the existing shortcuts,
; /R starts the app again afterwards.

Unicode true
Target amd64-unicode
SetCompressor /SOLID lzma
RequestExecutionLevel user
ManifestDPIAware true

!include "MUI2.nsh"
!include "LogicLib.nsh"
!include "FileFunc.nsh"
!include "x64.nsh"

!define PRODUCT "Sổ Tiêm"
!define PUBLISHER "Sổ Tiêm"
!define EXE_NAME "sotiem-desktop.exe"
!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\vn.sotiem.desktop"
; The Evergreen WebView2 Runtime's client id (the same for every Windows).
!define WEBVIEW2_CLIENT "{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}"

Name "${PRODUCT}"
OutFile "${OUT_FILE}"
InstallDir "$LOCALAPPDATA\Programs\SoTiem"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${PRODUCT} ${VERSION}"
VIProductVersion "${VERSION}.0"
VIAddVersionKey /LANG=1066 "ProductName" "${PRODUCT}"
VIAddVersionKey /LANG=1066 "FileDescription" "Cài đặt ${PRODUCT}"
VIAddVersionKey /LANG=1066 "FileVersion" "${VERSION}"
VIAddVersionKey /LANG=1066 "ProductVersion" "${VERSION}"
VIAddVersionKey /LANG=1066 "CompanyName" "${PUBLISHER}"
VIAddVersionKey /LANG=1066 "LegalCopyright" "${PUBLISHER}"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE_NAME}"
!define MUI_FINISHPAGE_RUN_TEXT "Mở ${PRODUCT} ngay"

Var Passive
Var Update
Var Restart

!define MUI_PAGE_CUSTOMFUNCTION_PRE SkipWhenPassive
!insertmacro MUI_PAGE_WELCOME
!define MUI_PAGE_CUSTOMFUNCTION_PRE SkipWhenPassive
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!define MUI_PAGE_CUSTOMFUNCTION_PRE SkipWhenPassive
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "Vietnamese"

Function .onInit
  ${IfNot} ${RunningX64}
    MessageBox MB_ICONSTOP "${PRODUCT} cần Windows 64 bit (Windows 10 hoặc 11)." /SD IDOK
    Abort
  ${EndIf}
  SetRegView 64
  ${GetParameters} $0
  ClearErrors
  ${GetOptions} $0 "/P" $1
  ${IfNot} ${Errors}
    StrCpy $Passive 1
  ${EndIf}
  ClearErrors
  ${GetOptions} $0 "/UPDATE" $1
  ${IfNot} ${Errors}
    StrCpy $Update 1
  ${EndIf}
  ClearErrors
  ${GetOptions} $0 "/R" $1
  ${IfNot} ${Errors}
    StrCpy $Restart 1
  ${EndIf}
FunctionEnd

Function SkipWhenPassive
  ${If} $Passive == 1
    Abort
  ${EndIf}
FunctionEnd

; Whether the WebView2 Runtime the window needs is present (for all users or for this one).
Function HasWebView2
  StrCpy $0 ""
  ReadRegStr $0 HKLM "SOFTWARE\WOW6432Node\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  ${If} $0 == ""
  ${OrIf} $0 == "0.0.0.0"
    ReadRegStr $0 HKCU "Software\Microsoft\EdgeUpdate\Clients\${WEBVIEW2_CLIENT}" "pv"
  ${EndIf}
  ${If} $0 == "0.0.0.0"
    StrCpy $0 ""
  ${EndIf}
FunctionEnd

Section "${PRODUCT}" Main
  SectionIn RO
  ; An update replaces the program while the old one may still be closing.
  ${If} $Update == 1
    Sleep 1500
  ${EndIf}
  SetOutPath "$INSTDIR"
  File "/oname=${EXE_NAME}" "${APP_EXE}"
  File "/oname=sotiem.ico" "${ICON}"
  WriteUninstaller "$INSTDIR\uninstall.exe"

  ${If} $Update != 1
  ${OrIfNot} ${FileExists} "$SMPROGRAMS\${PRODUCT}.lnk"
    CreateShortCut "$SMPROGRAMS\${PRODUCT}.lnk" "$INSTDIR\${EXE_NAME}" "" "$INSTDIR\sotiem.ico" 0 SW_SHOWNORMAL "" "Sổ tiêm chủng của trạm y tế"
  ${EndIf}

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$INSTDIR\sotiem.ico"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" '"$INSTDIR\uninstall.exe"'
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" '"$INSTDIR\uninstall.exe" /S'
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  ${GetSize} "$INSTDIR" "/S=0K" $0 $1 $2
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" $0

  ; The window is WebView2: Windows 11 and an updated Windows 10 have it; otherwise run
  ; Microsoft's bootstrapper if this build embeds it, else say what to install.
  Call HasWebView2
  ${If} $0 == ""
    !ifdef WEBVIEW2_BOOTSTRAPPER
      DetailPrint "Đang cài Microsoft Edge WebView2 Runtime…"
      SetOutPath "$PLUGINSDIR"
      File "/oname=MicrosoftEdgeWebview2Setup.exe" "${WEBVIEW2_BOOTSTRAPPER}"
      ExecWait '"$PLUGINSDIR\MicrosoftEdgeWebview2Setup.exe" /silent /install' $1
      SetOutPath "$INSTDIR"
      Call HasWebView2
    !endif
    ${If} $0 == ""
      DetailPrint "Chưa có Microsoft Edge WebView2 Runtime."
      MessageBox MB_ICONEXCLAMATION "Máy chưa có Microsoft Edge WebView2 Runtime, thành phần Windows mà ${PRODUCT} dùng để hiện cửa sổ. Hãy cài nó (bản Evergreen, miễn phí, từ trang của Microsoft hoặc do bộ phận CNTT cung cấp) rồi mở ${PRODUCT}." /SD IDOK
    ${EndIf}
  ${EndIf}

  ${If} $Restart == 1
    Exec '"$INSTDIR\${EXE_NAME}"'
  ${EndIf}
SectionEnd

Section "Uninstall"
  SetRegView 64
  Delete "$INSTDIR\${EXE_NAME}"
  Delete "$INSTDIR\sotiem.ico"
  Delete "$INSTDIR\uninstall.exe"
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT}.lnk"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  ; The station's data (%LOCALAPPDATA%\vn.sotiem.desktop) stays: it holds doses not yet
  ; synced, and its key is in the Credential Manager.
SectionEnd
